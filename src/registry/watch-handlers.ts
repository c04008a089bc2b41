/**
 * Development mode: reload the handler files when one changes. A file that fails to load keeps the
 * previous handlers in place and logs why, so a typo while editing never stops the service.
 *
 * Only handler files can be loaded again: Node keeps every module it has imported, so the files handlers
 * import (`_schema.ts`, helpers starting with `_`) stay as first loaded. A change to one of those is not
 * reported as a reload; the log says to restart instead.
 */
import { watch } from 'node:fs'
import { resolve } from 'node:path'
import type { Logger } from 'pino'
import type { HandlerRegistry } from './handler-registry.ts'
import { isHandlerFile, loadHandlers } from './load-handlers.ts'

/** A file a handler may import, which a reload cannot bring in again (tests and declarations left out). */
function isImportedCode(name: string): boolean {
  if (name.startsWith('.') || /\.test\.[^.]+$/.test(name) || /\.d\.[cm]?ts$/.test(name)) return false
  return /\.(?:[cm]?[jt]s|json)$/.test(name)
}

export function watchHandlers(dir: string, registry: HandlerRegistry, log: Logger): () => void {
  let timer: NodeJS.Timeout | undefined
  let version = 0
  let reloadDue = false
  const imported = new Set<string>()
  const reload = async () => {
    version++
    try {
      const handlers = await loadHandlers(dir, `${Date.now()}-${version}`)
      registry.replace(handlers)
      log.info({ handlers: handlers.map((h) => h.name) }, 'handlers reloaded')
    } catch (err) {
      log.error({ err: (err as Error).message }, 'handlers not reloaded; the previous ones stay active')
    }
  }
  const settle = async () => {
    const changed = [...imported]
    imported.clear()
    if (changed.length > 0) {
      log.warn(
        { files: changed.map((name) => resolve(dir, name)) },
        'a file that is not a handler changed; handlers that import it keep the version first loaded: restart to use the change',
      )
    }
    if (reloadDue) {
      reloadDue = false
      await reload()
    }
  }
  const watcher = watch(resolve(dir), (_event, filename) => {
    const name = filename ? String(filename) : undefined
    // Without a name (some platforms), reload: it may have been a handler file.
    if (name === undefined || isHandlerFile(name)) reloadDue = true
    else if (isImportedCode(name)) imported.add(name)
    else return
    // Editors write a file in several steps: wait for the burst to settle.
    clearTimeout(timer)
    timer = setTimeout(() => void settle(), 150)
  })
  return () => {
    clearTimeout(timer)
    watcher.close()
  }
}
