import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { createHandlerRegistry } from '../../src/registry/handler-registry.ts'
import { HandlerLoadError, isHandlerFile, loadHandlers } from '../../src/registry/load-handlers.ts'
import { watchHandlers } from '../../src/registry/watch-handlers.ts'
import { runServer } from '../support/spawn-service.ts'
import { tempDir } from '../support/temp-dir.ts'

const noop = 'async handle() {}'

describe('loading handler files', () => {
  const dirs: Array<{ remove(): void }> = []
  afterEach(() => {
    for (const d of dirs.splice(0)) d.remove()
  })
  const folder = (files: Record<string, string>) => {
    const dir = tempDir('handlers')
    dirs.push(dir)
    for (const [name, source] of Object.entries(files)) writeFileSync(join(dir.path, name), source)
    return dir.path
  }

  it('loads in file-name order, names by file, and skips tests, underscores and non-code files', async () => {
    const dir = folder({
      'b-second.ts': `export default { provider: 'stripe', events: ['a'], ${noop} }`,
      'a-first.mjs': `export default [{ provider: '*', events: '*', ${noop} }, { name: 'custom', provider: 'adyen', events: ['AUTHORISATION'], ${noop} }]`,
      'b-second.test.ts': 'throw new Error("never imported")',
      '_schema.ts': 'throw new Error("never imported")',
      'notes.md': '# not code',
    })
    const handlers = await loadHandlers(dir)
    expect(handlers.map((h) => h.name)).toEqual(['a-first#1', 'custom', 'b-second'])
    const registry = createHandlerRegistry(handlers)
    expect(registry.match('stripe', 'a').map((h) => h.name)).toEqual(['a-first#1', 'b-second'])
    expect(registry.match('adyen', 'AUTHORISATION').map((h) => h.name)).toEqual(['a-first#1', 'custom'])
    expect(registry.match('paypal', 'X').map((h) => h.name)).toEqual(['a-first#1'])
  })

  it('recognises handler file names', () => {
    expect(isHandlerFile('orders.ts')).toBe(true)
    expect(isHandlerFile('orders.test.ts')).toBe(false)
    expect(isHandlerFile('_helpers.ts')).toBe(false)
    expect(isHandlerFile('types.d.ts')).toBe(false)
    // A declaration file for ES modules is no handler either (it has no default export: start-up stopped).
    expect(isHandlerFile('types.d.mts')).toBe(false)
    expect(isHandlerFile('readme.md')).toBe(false)
  })

  const malformed: Array<[string, string, RegExp]> = [
    ['no default export', 'export const x = 1', /no default export/],
    [
      'a bad provider',
      `export default { provider: 'square', events: '*', ${noop} }`,
      /"provider" must be one of/,
    ],
    ['bad events', `export default { provider: 'stripe', events: [], ${noop} }`, /"events" must be/],
    [
      'no handle function',
      `export default { provider: 'stripe', events: '*' }`,
      /"handle" must be a function/,
    ],
    ['a syntax error', 'export default {', /failed to import/],
    ['a throwing module', 'throw new Error("boom at import")', /failed to import: boom at import/],
  ]
  for (const [what, source, reason] of malformed) {
    it(`stops on a file with ${what}, naming the file and the reason`, async () => {
      const dir = folder({ 'broken.ts': source })
      const err = await loadHandlers(dir).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(HandlerLoadError)
      expect((err as Error).message).toContain(join(dir, 'broken.ts'))
      expect((err as Error).message).toMatch(reason)
    })
  }

  it('names the handler of an array export that is malformed, and says what it must be', async () => {
    const good = `{ provider: 'stripe', events: '*', ${noop} }`
    const cases: Array<[string, RegExp]> = [
      [
        `[${good}, null]`,
        /handler 2 of the default export's array: must be a handler object \(provider, events, handle\)$/,
      ],
      [
        `[${good}, { provider: 'stripe', events: 'invoice.paid', ${noop} }]`,
        /handler 2 of the default export's array: "events" must be a non-empty array/,
      ],
    ]
    for (const [exported, reason] of cases) {
      const dir = folder({ 'refunds.ts': `export default ${exported}` })
      const err = await loadHandlers(dir).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(HandlerLoadError)
      expect((err as Error).message).toContain(join(dir, 'refunds.ts'))
      expect((err as Error).message).toMatch(reason)
    }
  })

  it('refuses two handlers with the same name', async () => {
    const dir = folder({
      'a.ts': `export default { name: 'same', provider: 'stripe', events: '*', ${noop} }`,
      'b.ts': `export default { name: 'same', provider: 'stripe', events: '*', ${noop} }`,
    })
    await expect(loadHandlers(dir)).rejects.toThrow(/duplicate handler name "same"/)
  })

  it('a handlers folder that does not exist stops the real process, naming HANDLERS_DIR (exit code 78)', async () => {
    // Running without it would record every event as "ignored": settled, answered 200 and never replayable.
    const data = tempDir('data')
    dirs.push(data)
    const missing = join(data.path, 'handler')
    const run = runServer({ HANDLERS_DIR: missing, DATABASE_URL: join(data.path, 'db.sqlite'), PORT: '0' })
    const timer = setTimeout(() => run.proc.kill('SIGKILL'), 15_000)
    const { code } = await run.exited
    clearTimeout(timer)
    expect(code).toBe(78)
    expect(run.output()).toContain(`HANDLERS_DIR: the folder ${missing} does not exist`)
  })

  it('a malformed handler file stops the real process at start-up with its path', async () => {
    const dir = folder({ 'orders.ts': `export default { provider: 'stripe', ${noop} }` })
    const data = tempDir('data')
    dirs.push(data)
    const run = runServer({ HANDLERS_DIR: dir, DATABASE_URL: join(data.path, 'db.sqlite'), PORT: '0' })
    const { code } = await run.exited
    expect(code).toBe(1)
    expect(run.output()).toContain(join(dir, 'orders.ts'))
    expect(run.output()).toMatch(/"events" must be/)
  })
})

describe('development mode: reloading handler files', () => {
  const dirs: Array<{ remove(): void }> = []
  const stops: Array<() => void> = []
  afterEach(() => {
    for (const stop of stops.splice(0)) stop()
    for (const d of dirs.splice(0)) d.remove()
  })
  const waitFor = async (what: () => boolean, ms = 5000) => {
    const until = Date.now() + ms
    while (!what()) {
      if (Date.now() > until) throw new Error('timed out')
      await new Promise((r) => setTimeout(r, 25))
    }
  }

  it('reloads a changed handler, keeps the previous ones on a syntax error, and says to restart for a changed helper', async () => {
    const dir = tempDir('watch')
    dirs.push(dir)
    const file = (name: string, source: string) => writeFileSync(join(dir.path, name), source)
    const handler = (label: string) =>
      `import { prefix } from './_prefix.ts'\nexport default { provider: 'stripe', events: '*', handle() { globalThis.watchedLabel = prefix + '${label}' } }\n`
    file('_prefix.ts', "export const prefix = 'v1-'\n")
    file('orders.ts', handler('a'))
    const registry = createHandlerRegistry(await loadHandlers(dir.path))
    const lines: Array<{ level: number; msg: string; files?: string[]; handlers?: string[] }> = []
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(JSON.parse(String(chunk)))
        cb()
      },
    })
    stops.push(watchHandlers(dir.path, registry, pino({ level: 'debug' }, sink)))
    const run = async () => {
      const g = globalThis as { watchedLabel?: string }
      await registry.match('stripe', 'x')[0]?.handle({} as never, {} as never)
      return g.watchedLabel
    }
    const seen = (msg: string) => lines.filter((l) => l.msg.startsWith(msg)).length

    file('orders.ts', handler('b'))
    await waitFor(() => seen('handlers reloaded') === 1)
    expect(await run()).toBe('v1-b')

    // A syntax error added while it runs: logged with the file's path; the previous handlers stay.
    file('refunds.ts', 'export default { provider: ')
    await waitFor(() => seen('handlers not reloaded') === 1)
    expect(JSON.stringify(lines.at(-1))).toContain(join(dir.path, 'refunds.ts'))
    expect(await run()).toBe('v1-b')
    file('refunds.ts', "export default { provider: 'adyen', events: '*', handle() {} }\n")
    await waitFor(() => seen('handlers reloaded') === 2)
    expect(registry.handlers.map((h) => h.name)).toEqual(['orders', 'refunds'])

    // A helper cannot be loaded again: no "reloaded" that changes nothing, but a warning naming it.
    file('_prefix.ts', "export const prefix = 'v2-'\n")
    await waitFor(() => seen('a file that is not a handler changed') === 1)
    expect(lines.find((l) => l.msg.startsWith('a file that is not a handler changed'))).toMatchObject({
      level: 40,
      files: [join(dir.path, '_prefix.ts')],
    })
    expect(lines.at(-1)?.msg).toMatch(/restart to use the change/)
    await new Promise((r) => setTimeout(r, 300))
    expect(seen('handlers reloaded')).toBe(2)
  })
})
