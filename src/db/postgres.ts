/**
 * Opens PostgreSQL through node-postgres with a pool, and applies the migrations in `drizzle/pg/` under an
 * advisory lock, so several instances starting together migrate once (the others wait, then find nothing
 * left to do). Tables live in the connection's current schema (`?options=-c search_path=…` selects another).
 */
import { fileURLToPath } from 'node:url'
import { sql } from 'drizzle-orm'
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres'
import { migrate } from 'drizzle-orm/node-postgres/migrator'
import pg from 'pg'
import type { QueryDb } from '../inbox/inbox.ts'
import { statusCounts } from './pg-schema.ts'
import { backfillStatusCounts } from './status-counts.ts'
import { pgTables } from './tables.ts'

export const PG_MIGRATIONS = fileURLToPath(new URL('../../drizzle/pg', import.meta.url))

/** An arbitrary constant naming hookinbox's migration lock among the database's advisory locks. */
const MIGRATION_LOCK = 0x686f6f6b // "hook"

export interface PostgresDatabase {
  pool: pg.Pool
  db: NodePgDatabase
  /** The schema hookinbox's tables (and its migrations table) live in. */
  schema: string
  close(): Promise<void>
}

export interface OpenPostgresOptions {
  url: string
  poolSize: number
  /** Gives up on a connection attempt after this long, so a lost database answers 503 quickly. */
  connectTimeoutMs?: number
  /**
   * Gives up on any one query of the pool after this long, and closes its connection. A database that stops
   * answering without closing the connection (a network partition, a hung server) would otherwise hold every
   * delivery on it, and the pool's connections, for good. Set above the usual longest wait of one statement:
   * a claim waiting for another instance's transaction on the same event, whose handler runs up to its
   * timeout. A longer wait (several slow handlers of one event in turn) is cut short too: that delivery
   * answers 503 and is retried, with nothing of it committed.
   */
  queryTimeoutMs?: number
}

/**
 * Counts the events into the status counts inside `tx`, holding off every writer of a count meanwhile
 * (`startOver`: the counts kept so far are dropped first; otherwise they are counted only if none is kept
 * yet). Instances already running may be taking deliveries, each writing its event and its count row in one
 * transaction: one committing between a look at the counts and the count would be counted twice, or its count
 * row (shard 0) would fail with 23505. Under the lock, a count committed before it is seen, and the events of
 * deliveries not committed yet are not counted here but by their own count row.
 */
export async function countEventsUnderLock(tx: NodePgDatabase, startOver: boolean): Promise<void> {
  await tx.execute(sql`LOCK TABLE ${statusCounts} IN EXCLUSIVE MODE`)
  if (startOver) await tx.delete(statusCounts)
  await backfillStatusCounts(tx as unknown as QueryDb, pgTables)
}

/** Counts the events once if no count is kept yet (a database from before the counts). */
async function backfillOnce(client: pg.Client): Promise<void> {
  const db = drizzle(client)
  const [anyCount] = await db.select({ n: statusCounts.n }).from(statusCounts).limit(1)
  if (anyCount) return
  await db.transaction((tx) => countEventsUnderLock(tx, false))
}

export async function openPostgres(options: OpenPostgresOptions): Promise<PostgresDatabase> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs } : {}),
  })
  // An idle client losing its connection emits 'error' on the pool; without a listener it would crash.
  pool.on('error', () => {})
  try {
    // The migrations run on a connection of their own, without the pool's query timeout: building an index
    // on a large table may rightly take longer.
    const client = new pg.Client({
      connectionString: options.url,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    })
    const onError = () => {}
    client.on('error', onError)
    await client.connect()
    let schema: string
    try {
      schema =
        ((await client.query('SELECT current_schema() AS s')).rows[0] as { s: string | null }).s ?? 'public'
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK])
      try {
        await migrate(drizzle(client), { migrationsFolder: PG_MIGRATIONS, migrationsSchema: schema })
        // Under the same lock, so instances starting together count an older database once.
        await backfillOnce(client)
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK])
      }
    } finally {
      await client.end().catch(() => {})
      client.off('error', onError)
    }
    return { pool, db: drizzle(pool), schema, close: () => pool.end() }
  } catch (err) {
    await pool.end().catch(() => {})
    throw err
  }
}
