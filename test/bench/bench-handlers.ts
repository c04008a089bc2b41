/**
 * The handler files the bench gives the service, and the tables they write to. Handlers are written as
 * `.mjs` into a scratch folder: plain ESM needs no transpiling, and `tsc -p .` (which includes test/) never
 * sees them. Tables are created in the SQLite file before the service starts, as a user's migration would.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'

/** Does nothing: isolates the service's own cost per event. */
const NOOP = `export default { name: 'noop', provider: '*', events: '*', async handle() {} }
`

/** Scenario 5: two inserts per event through ctx.tx with Drizzle's query builder, as real handlers write. */
export const WRITES_TABLE_SQL = `CREATE TABLE IF NOT EXISTS bench_orders (
  id INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, session_id TEXT NOT NULL,
  amount INTEGER, currency TEXT, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bench_ledger (
  id INTEGER PRIMARY KEY AUTOINCREMENT, order_event TEXT NOT NULL, entry TEXT NOT NULL,
  amount INTEGER, created_at INTEGER NOT NULL);`

const WRITES = `import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
const orders = sqliteTable('bench_orders', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  eventId: text('event_id').notNull(),
  sessionId: text('session_id').notNull(),
  amount: integer('amount'),
  currency: text('currency'),
  createdAt: integer('created_at').notNull(),
})
const ledger = sqliteTable('bench_ledger', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  orderEvent: text('order_event').notNull(),
  entry: text('entry').notNull(),
  amount: integer('amount'),
  createdAt: integer('created_at').notNull(),
})
export default {
  name: 'writes',
  provider: 'stripe',
  events: '*',
  async handle(event, ctx) {
    const session = event.payload.data.object
    const now = Date.now()
    ctx.tx.insert(orders).values({ eventId: event.id, sessionId: session.id, amount: session.amount_total,
      currency: session.currency, createdAt: now }).run()
    ctx.tx.insert(ledger).values({ orderEvent: event.id, entry: 'credit', amount: session.amount_total,
      createdAt: now }).run()
  },
}
`

/**
 * The race check: one row per handler run in a table WITHOUT a unique constraint, so a second run shows up
 * as a second row. The 5 ms wait stands for the outbound call a real handler makes (an API request); while
 * it is awaited, a naive receiver reads the next deliveries, which is what lets duplicates interleave.
 */
export const RACE_HANDLER_WAIT_MS = 5
export const EFFECTS_TABLE_SQL =
  'CREATE TABLE IF NOT EXISTS bench_effects (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL, at INTEGER NOT NULL)'

const EFFECTS = `import { sql } from 'drizzle-orm'
export default {
  name: 'effects',
  provider: '*',
  events: '*',
  async handle(event, ctx) {
    await new Promise((resolve) => setTimeout(resolve, ${RACE_HANDLER_WAIT_MS}))
    ctx.tx.run(sql\`INSERT INTO bench_effects (event_id, at) VALUES (\${event.id}, \${Date.now()})\`)
  },
}
`

export type HandlerKind = 'noop' | 'writes' | 'effects'

const SOURCES: Record<HandlerKind, { file: string; source: string; tableSql?: string }> = {
  noop: { file: 'noop.mjs', source: NOOP },
  writes: { file: 'writes.mjs', source: WRITES, tableSql: WRITES_TABLE_SQL },
  effects: { file: 'effects.mjs', source: EFFECTS, tableSql: EFFECTS_TABLE_SQL },
}

/** Writes the handler into `<dir>/handlers` and creates its table in `dbPath`; returns the handlers dir. */
export function prepareHandlers(dir: string, dbPath: string, kind: HandlerKind): string {
  const handlersDir = join(dir, 'handlers')
  mkdirSync(handlersDir, { recursive: true })
  const { file, source, tableSql } = SOURCES[kind]
  writeFileSync(join(handlersDir, file), source)
  if (tableSql) {
    const db = new Database(dbPath)
    db.exec(tableSql)
    db.close()
  }
  return handlersDir
}

export function countRows(dbPath: string, table: string, where = ''): number {
  const db = new Database(dbPath, { readonly: true })
  try {
    return (db.prepare(`SELECT count(*) AS n FROM ${table} ${where}`).get() as { n: number }).n
  } finally {
    db.close()
  }
}
