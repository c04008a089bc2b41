/**
 * PostgreSQL for tests: each test file gets a fresh schema in the TEST_DATABASE_URL database (CI sets it;
 * without it the PostgreSQL tests skip and say why), and the service is pointed at that schema through the
 * connection's search_path.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts'

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL
export const postgresAvailable = Boolean(TEST_DATABASE_URL)
export const SKIP_REASON =
  'PostgreSQL tests skipped: set TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run them'
if (!postgresAvailable) console.warn(SKIP_REASON)

export const PG_EFFECTS_TABLE_SQL =
  'CREATE TABLE IF NOT EXISTS test_effects (id BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL, handler TEXT NOT NULL)'

/** A handler file for PostgreSQL that records one effect row per run through ctx.tx (node-postgres). */
export function pgEffectHandler(options: { name?: string; events?: string; extra?: string } = {}) {
  return `import { sql } from 'drizzle-orm'
export default {
  ${options.name ? `name: ${JSON.stringify(options.name)},` : ''}
  provider: '*',
  events: ${options.events ?? "'*'"},
  async handle(event, ctx) {
    await ctx.tx.execute(sql\`INSERT INTO test_effects (event_id, handler) VALUES (\${event.id}, \${${JSON.stringify(options.name ?? 'effect')}})\`)
    ${options.extra ?? ''}
  },
}
`
}

/** How many effect rows the test handlers wrote for an event (in `schema`). */
export async function pgEffectCount(schema: Pick<PgSchema, 'query'>, eventId: string): Promise<number> {
  const [row] = await schema.query<{ n: string }>(
    'SELECT count(*) AS n FROM test_effects WHERE event_id = $1',
    [eventId],
  )
  return Number(row?.n)
}

/** An event's status, attempts, last error and payload, as stored (in `schema`). */
export async function pgStoredEvent(schema: Pick<PgSchema, 'query'>, eventId: string) {
  const [row] = await schema.query<{
    status: string
    attempts: number
    last_error: string | null
    payload: string | null
  }>('SELECT status, attempts, last_error, payload FROM hookinbox_events WHERE event_id = $1', [eventId])
  return row
}

export interface PgSchema {
  name: string
  /** A connection URL whose search_path is the schema. */
  url: string
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>
  drop(): Promise<void>
}

/**
 * Polls `text` (a look at pg_stat_activity) every 10 ms until it returns a row, for about 5 s; then fails
 * with `never`. For tests that must act only once another session is seen doing, or waiting on, something.
 */
export async function untilActivity(
  db: Pick<PgSchema, 'query'>,
  text: string,
  params: unknown[],
  never: string,
): Promise<void> {
  for (let i = 0; ; i++) {
    if ((await db.query(text, params)).length > 0) return
    if (i > 500) throw new Error(never)
    await new Promise((r) => setTimeout(r, 10))
  }
}

export function urlWithSchema(base: string, schema: string): string {
  const url = new URL(base)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return url.toString()
}

export async function freshSchema(prefix = 'hb'): Promise<PgSchema> {
  const base = TEST_DATABASE_URL as string
  const name = `${prefix}_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: base })
  await admin.connect()
  await admin.query(`CREATE SCHEMA "${name}"`)
  await admin.end()
  const url = urlWithSchema(base, name)
  const pool = new pg.Pool({ connectionString: url, max: 2 })
  pool.on('error', () => {})
  await pool.query(PG_EFFECTS_TABLE_SQL)
  return {
    name,
    url,
    async query<T>(text: string, params: unknown[] = []) {
      return (await pool.query(text, params)).rows as T[]
    },
    async drop() {
      await pool.end()
      const c = new pg.Client({ connectionString: base })
      await c.connect()
      await c.query(`DROP SCHEMA "${name}" CASCADE`)
      await c.end()
    },
  }
}

/**
 * A URL of `schema` that goes through a loopback TCP proxy in front of TEST_DATABASE_URL's server, so a test
 * can cut, stall or refuse the connections (tcp-proxy.ts).
 */
export async function behindProxy(schema: PgSchema): Promise<{ url: string; proxy: TcpProxy }> {
  const target = new URL(TEST_DATABASE_URL as string)
  const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432))
  const url = new URL(schema.url)
  url.hostname = '127.0.0.1'
  url.port = String(proxy.port)
  return { url: url.toString(), proxy }
}
