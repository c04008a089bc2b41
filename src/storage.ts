/**
 * The database, chosen once at start-up from DATABASE_URL: the embedded SQLite file (default) or
 * PostgreSQL. Everything above this (webhooks, admin, retention) sees the same Storage.
 */
import type { Logger } from 'pino'
import type { Config } from './config.ts'
import { openPostgres } from './db/postgres.ts'
import { openSqlite, type SqliteDatabase } from './db/sqlite.ts'
import { backfillStatusCounts } from './db/status-counts.ts'
import { pgTables, sqliteTables, type Tables } from './db/tables.ts'
import type { FsyncFn } from './db/wal-sync.ts'
import type { QueryDb, StorageInbox } from './inbox/inbox.ts'
import { createPgInbox } from './inbox/pg-inbox.ts'
import { createSqliteInbox } from './inbox/sqlite-inbox.ts'
import type { HandlerRegistry } from './registry/handler-registry.ts'
import { waitAtMost } from './wait-at-most.ts'

export interface Storage {
  dialect: 'sqlite' | 'postgres'
  inbox: StorageInbox
  /** The read side: SQLite's read-only connection, or the PostgreSQL pool. Queries are only awaited. */
  reader: QueryDb
  /** The admin's reads, which may be long: on SQLite a connection on its own thread; on PostgreSQL the pool. */
  adminReader: QueryDb
  /** Opens what the admin reads through now, so that its first request does not wait for it. */
  prepareAdminReads(): void
  /**
   * At the start of a stop: the admin's reads still running fail (503) rather than hold the stop, and later
   * ones are refused. Deliveries are not affected.
   */
  stopAdminReads(): void
  tables: Tables
  /** Whether the database answers and the migrations are applied. */
  ready(): Promise<boolean>
  /** What the start-up log says about the database (never a password). */
  description: Record<string, unknown>
  /** The SQLite connections, for tests that break them on purpose. */
  sqlite?: SqliteDatabase
  close(): Promise<void>
}

export interface OpenStorageOptions {
  registry: HandlerRegistry
  log: Logger
  now?: () => Date
  onBatch?: (size: number) => void
  /** The database can no longer make commits durable (a failed fsync); the process should stop. */
  onFatal?: (err: unknown) => void
  /** Tests: replaces the WAL fsync. */
  walFsync?: FsyncFn
  /** Tests: holds the admin's read thread (see db/read-thread.ts). */
  readThreadHold?: SharedArrayBuffer
}

/**
 * What the start-up log shows of a PostgreSQL URL: scheme, user, host, port and database. The password is
 * left out, and so is the whole query string: node-postgres also reads `password`, `sslpassword` and `sslkey`
 * from there.
 */
export function describePostgresUrl(url: string): string {
  try {
    const u = new URL(url)
    const user = u.username ? `${u.username}@` : ''
    return `${u.protocol}//${user}${u.host}${u.pathname}`
  } catch {
    return 'postgres://…'
  }
}

/** What a PostgreSQL statement may take beyond HANDLER_TIMEOUT_MS before its connection is given up. */
export const POSTGRES_QUERY_TIMEOUT_MARGIN_MS = 15_000

export async function openStorage(config: Config, options: OpenStorageOptions): Promise<Storage> {
  const inboxOptions = {
    registry: options.registry,
    log: options.log,
    handlerTimeoutMs: config.handlerTimeoutMs,
    maxAttempts: config.maxAttempts,
    ...(options.now ? { now: options.now } : {}),
  }

  if (config.database.kind === 'postgres') {
    const database = await openPostgres({
      url: config.database.url,
      poolSize: config.database.poolSize,
      // Above the usual longest wait of a statement: a claim waits for another instance's transaction on the
      // same event, whose handler runs for up to HANDLER_TIMEOUT_MS, and whose stuck query is then cancelled.
      queryTimeoutMs: config.handlerTimeoutMs + POSTGRES_QUERY_TIMEOUT_MARGIN_MS,
    })
    const inbox = createPgInbox({ ...inboxOptions, database })
    return {
      dialect: 'postgres',
      inbox,
      reader: database.db as unknown as QueryDb,
      adminReader: database.db as unknown as QueryDb,
      prepareAdminReads() {},
      // A PostgreSQL query is bounded by the query timeout, and the pool stays open until the end.
      stopAdminReads() {},
      tables: pgTables,
      async ready() {
        const check = database.pool
          .query(`SELECT 1 FROM "${database.schema.replace(/"/g, '""')}"."__drizzle_migrations" LIMIT 1`)
          .then((r) => r.rowCount === 1)
          .catch(() => false)
        return waitAtMost(check, 2000, false)
      },
      description: {
        database: 'postgres',
        url: describePostgresUrl(config.database.url),
        schema: database.schema,
        poolSize: config.database.poolSize,
      },
      async close() {
        await inbox.close()
        await database.close()
      },
    }
  }

  const db = openSqlite({
    path: config.database.path,
    synchronous: config.database.synchronous,
    log: options.log,
    ...(options.walFsync ? { fsync: options.walFsync } : {}),
    ...(options.readThreadHold ? { readThreadHold: options.readThreadHold } : {}),
    onSyncFailure(err) {
      options.log.fatal(
        { err },
        'an fsync of the SQLite WAL failed: no commit can be made durable any more; every delivery is refused (503) and the service must restart',
      )
      options.onFatal?.(err)
    },
  })
  const inbox = createSqliteInbox({
    ...inboxOptions,
    db,
    settledCacheSize: config.database.duplicateCache,
    ...(options.onBatch ? { onBatch: options.onBatch } : {}),
  })
  await inbox.maintain((w) => backfillStatusCounts(w, sqliteTables))
  const readyCheck = db.reader.prepare('SELECT count(*) AS n FROM __drizzle_migrations')
  const probeBegin = db.writer.prepare('BEGIN IMMEDIATE')
  const probeRollback = db.writer.prepare('ROLLBACK')
  /**
   * Whether a delivery could take the write lock now. Reads go on while another process holds it, but every
   * delivery is refused (503), so that must not count as ready. A batch open on the writer holds the lock
   * itself; otherwise the writer is idle and the lock is taken and let go at once (no write, no commit),
   * waiting at most the busy timeout, as a delivery would.
   */
  const writable = () => {
    if (db.writer.inTransaction) return true
    try {
      probeBegin.run()
      return true
    } catch {
      return false
    } finally {
      if (db.writer.inTransaction) probeRollback.run()
    }
  }
  return {
    dialect: 'sqlite',
    inbox,
    reader: db.readerDb,
    adminReader: db.adminReader,
    prepareAdminReads: () => db.readThread?.start(),
    stopAdminReads: () => db.readThread?.stop(),
    tables: sqliteTables,
    async ready() {
      if (db.walSync.failure !== undefined) return false
      return ((readyCheck.get() as { n: number }).n ?? 0) > 0 && writable()
    },
    description: { database: 'sqlite', path: config.database.path, synchronous: config.database.synchronous },
    sqlite: db,
    async close() {
      await inbox.close()
      await db.close()
    },
  }
}
