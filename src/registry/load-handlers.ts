/**
 * Loads every handler file in the handlers folder, in file-name order. Files ending `.test.*`, starting with
 * `_` or `.`, declaration files (`.d.ts`, `.d.mts`), or not JavaScript/TypeScript are skipped. A file that
 * fails to import or exports something malformed stops start-up with its path and the reason.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { basename, extname, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { PROVIDER_NAMES } from '../providers/provider.ts'
import type { LoadedHandler } from './handler-registry.ts'

const HANDLER_EXTENSIONS = new Set(['.ts', '.mts', '.js', '.mjs'])

export class HandlerLoadError extends Error {
  constructor(
    readonly file: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`handler file ${file}: ${reason}`, options)
    this.name = 'HandlerLoadError'
  }
}

export function isHandlerFile(name: string): boolean {
  if (name.startsWith('_') || name.startsWith('.')) return false
  if (/\.test\.[^.]+$/.test(name) || /\.d\.m?ts$/.test(name)) return false
  return HANDLER_EXTENSIONS.has(extname(name))
}

export function handlerFiles(dir: string): string[] {
  const root = resolve(dir)
  if (!existsSync(root)) return []
  return readdirSync(root)
    .filter((name) => isHandlerFile(name) && statSync(resolve(root, name)).isFile())
    .sort()
    .map((name) => resolve(root, name))
}

/** `item` is the handler's place in an array export (1-based), which the reasons then name. */
function validate(value: unknown, file: string, fallbackName: string, item?: number): LoadedHandler {
  const where = item === undefined ? '' : `handler ${item} of the default export's array: `
  const fail = (reason: string): never => {
    throw new HandlerLoadError(file, `${where}${reason}`)
  }
  if (typeof value !== 'object' || value === null)
    fail(
      item === undefined
        ? 'the default export must be a handler object or an array'
        : 'must be a handler object (provider, events, handle)',
    )
  const h = value as Record<string, unknown>
  const provider = h.provider
  if (provider !== '*' && !PROVIDER_NAMES.includes(provider as never)) {
    fail(`"provider" must be one of ${[...PROVIDER_NAMES, '*'].map((p) => `'${p}'`).join(', ')}`)
  }
  const events = h.events
  if (
    events !== '*' &&
    !(
      Array.isArray(events) &&
      events.length > 0 &&
      events.every((e) => typeof e === 'string' && e.length > 0)
    )
  ) {
    fail(`"events" must be a non-empty array of event types or the string '*'`)
  }
  if (typeof h.handle !== 'function') fail('"handle" must be a function')
  if (h.name !== undefined && (typeof h.name !== 'string' || h.name.length === 0)) {
    fail('"name" must be a non-empty string when given')
  }
  return {
    name: (h.name as string | undefined) ?? fallbackName,
    provider: provider as LoadedHandler['provider'],
    events: events === '*' ? '*' : [...(events as string[])],
    handle: h.handle as LoadedHandler['handle'],
    file,
  }
}

/** Validates a module's default export into handlers named after the file. */
export function handlersFromModule(mod: unknown, file: string): LoadedHandler[] {
  const exported = (mod as { default?: unknown } | undefined)?.default
  if (exported === undefined) throw new HandlerLoadError(file, 'no default export')
  const base = basename(file).replace(/\.[^.]+$/, '')
  if (Array.isArray(exported)) {
    if (exported.length === 0) throw new HandlerLoadError(file, 'the default export is an empty array')
    return exported.map((h, i) => validate(h, file, `${base}#${i + 1}`, i + 1))
  }
  return [validate(exported, file, base)]
}

/** Imports every handler file of `dir`; `version` busts the module cache for reloads. */
export async function loadHandlers(dir: string, version?: string): Promise<LoadedHandler[]> {
  const loaded: LoadedHandler[] = []
  const names = new Set<string>()
  for (const file of handlerFiles(dir)) {
    let mod: unknown
    try {
      const url = pathToFileURL(file)
      if (version) url.searchParams.set('v', version)
      mod = await import(url.href)
    } catch (err) {
      throw new HandlerLoadError(file, `failed to import: ${(err as Error)?.message ?? String(err)}`, {
        cause: err,
      })
    }
    for (const handler of handlersFromModule(mod, file)) {
      if (names.has(handler.name))
        throw new HandlerLoadError(file, `duplicate handler name "${handler.name}"`)
      names.add(handler.name)
      loaded.push(handler)
    }
  }
  return loaded
}
