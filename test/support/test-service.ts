/**
 * Runs the real service in-process on a loopback port, on a real SQLite file in a scratch folder, with the
 * handler files a test writes. `query` reads the database through a separate connection, as an operator would.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import Database from 'better-sqlite3'
import { parseConfig } from '../../src/config.ts'
import { createLogger } from '../../src/logger.ts'
import { type RunningService, type StartOptions, startService } from '../../src/service.ts'
import { STRIPE_SECRET } from './stripe-signing.ts'
import { tempDir } from './temp-dir.ts'

export const ADMIN_TOKEN = 'admin-token-for-tests-0123456789'

/** A table the test handlers write their effects into (created before the service starts). */
export const EFFECTS_TABLE_SQL =
  'CREATE TABLE IF NOT EXISTS test_effects (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL, handler TEXT NOT NULL)'

/** A handler file that records one effect row per run; `extra` is spliced into handle() after the insert. */
export function effectHandler(
  options: { name?: string; provider?: string; events?: string; extra?: string } = {},
) {
  return `import { sql } from 'drizzle-orm'
export default {
  ${options.name ? `name: ${JSON.stringify(options.name)},` : ''}
  provider: ${JSON.stringify(options.provider ?? '*')},
  events: ${options.events ?? "'*'"},
  async handle(event, ctx) {
    ctx.tx.run(sql\`INSERT INTO test_effects (event_id, handler) VALUES (\${event.id}, \${${JSON.stringify(options.name ?? 'effect')}})\`)
    ${options.extra ?? ''}
  },
}
`
}

/** How many effect rows the test handlers wrote for an event. */
export const effectCount = (svc: Pick<TestService, 'query'>, eventId: string) =>
  svc.query<{ n: number }>('SELECT count(*) AS n FROM test_effects WHERE event_id = ?', eventId)[0]?.n

/** An event's status, attempts and last error, as stored. */
export const storedEvent = (svc: Pick<TestService, 'query'>, eventId: string) =>
  svc.query<{ status: string; attempts: number; last_error: string | null }>(
    'SELECT status, attempts, last_error FROM hookinbox_events WHERE event_id = ?',
    eventId,
  )[0]

/** Polls until `pending` deliveries are held (they are admitted once verified, which takes a moment). */
export async function untilPending(svc: Pick<TestService, 'url'>, pending: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const text = await (await fetch(`${svc.url}/metrics`)).text()
    if (text.split('\n').includes(`hookinbox_pending_deliveries ${pending}`)) return
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`never saw ${pending} pending deliveries`)
}

export interface TestService extends RunningService {
  dir: string
  dbPath: string
  logs: string[]
  query<T = Record<string, unknown>>(sqlText: string, ...params: unknown[]): T[]
  /** Stops the service (if running) and deletes the scratch folder. */
  dispose(): Promise<void>
  restart(): Promise<TestService>
}

export interface TestServiceOptions {
  env?: Record<string, string>
  handlers?: Record<string, string>
  dir?: string
  now?: () => Date
  paypal?: StartOptions['paypal']
  /** Development mode's extras (the local PayPal key trusted for its reserved certificate URL). */
  dev?: StartOptions['dev']
  walFsync?: StartOptions['walFsync']
  adminReadHold?: StartOptions['adminReadHold']
  onFatal?: StartOptions['onFatal']
  /** With `dir`: whether dispose() deletes it (a restarted service inherits its folder). */
  ownDir?: boolean
}

export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const scratch = options.dir
    ? {
        path: options.dir,
        remove: () =>
          options.ownDir ? rmSync(options.dir as string, { recursive: true, force: true }) : undefined,
      }
    : tempDir('svc')
  const dir = scratch.path
  const handlersDir = join(dir, 'handlers')
  const dbPath = join(dir, 'hookinbox.db')
  mkdirSync(handlersDir, { recursive: true })
  for (const [name, source] of Object.entries(options.handlers ?? {}))
    writeFileSync(join(handlersDir, name), source)
  // On PostgreSQL (env DATABASE_URL=postgres://…) the caller prepares its schema; see test/support/postgres.ts.
  const onPostgres = /^postgres/.test(options.env?.DATABASE_URL ?? '')
  if (!onPostgres) {
    const pre = new Database(dbPath)
    pre.exec(EFFECTS_TABLE_SQL)
    pre.close()
  }

  const config = parseConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: dbPath,
    HANDLERS_DIR: handlersDir,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    ADMIN_TOKEN,
    LOG_LEVEL: 'debug',
    ...options.env,
  })
  const logs: string[] = []
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk))
      cb()
    },
  })
  const log = createLogger(config.logLevel, sink)
  const service = await startService(config, {
    log,
    ...(options.now ? { now: options.now } : {}),
    ...(options.paypal ? { paypal: options.paypal } : {}),
    ...(options.dev ? { dev: options.dev } : {}),
    ...(options.walFsync ? { walFsync: options.walFsync } : {}),
    ...(options.adminReadHold ? { adminReadHold: options.adminReadHold } : {}),
    ...(options.onFatal ? { onFatal: options.onFatal } : {}),
  })
  let stopped = false
  const self: TestService = {
    ...service,
    dir,
    dbPath,
    logs,
    query<T>(sqlText: string, ...params: unknown[]) {
      const conn = new Database(dbPath, { readonly: true })
      try {
        return conn.prepare(sqlText).all(...params) as T[]
      } finally {
        conn.close()
      }
    },
    async close() {
      if (!stopped) {
        stopped = true
        await service.close()
      }
    },
    async dispose() {
      await self.close()
      scratch.remove()
    },
    async restart() {
      await self.close()
      return startTestService({ ...options, dir, handlers: {}, ownDir: true })
    },
  }
  return self
}
