/**
 * Opens the embedded SQLite database: one writer connection (every write transaction is serialised on it,
 * see inbox/sqlite-inbox.ts) and one read-only connection that reads the last committed snapshot while a
 * write transaction is open (WAL). Migrations from `drizzle/sqlite/` are applied before anything else.
 */
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { type BetterSQLite3Database, drizzle } from 'drizzle-orm/better-sqlite3'
import { migrate } from 'drizzle-orm/better-sqlite3/migrator'

export const SQLITE_MIGRATIONS = fileURLToPath(new URL('../../drizzle/sqlite', import.meta.url))

export interface SqliteDatabase {
  /** The only connection that writes. */
  writer: Database.Database
  /** A read-only connection for the duplicate fast path, the admin API and health checks. */
  reader: Database.Database
  readerDb: BetterSQLite3Database
  path: string
  close(): void
}

export interface OpenSqliteOptions {
  path: string
  synchronous: 'FULL' | 'NORMAL'
  /** How long a statement waits for a lock held by another process before failing with SQLITE_BUSY. */
  busyTimeoutMs?: number
}

export function openSqlite(options: OpenSqliteOptions): SqliteDatabase {
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true })
  const writer = new Database(options.path)
  try {
    writer.pragma('journal_mode = WAL')
    writer.pragma(`synchronous = ${options.synchronous}`)
    writer.pragma('foreign_keys = ON')
    // better-sqlite3 waits for a busy lock synchronously (blocking the event loop), so keep the wait short:
    // a database locked by another process answers 503 and the provider retries.
    writer.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 200}`)
    migrate(drizzle(writer), { migrationsFolder: SQLITE_MIGRATIONS })
  } catch (err) {
    writer.close()
    throw err
  }
  const reader = new Database(options.path, { readonly: true, fileMustExist: true })
  reader.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 200}`)
  return {
    writer,
    reader,
    readerDb: drizzle(reader),
    path: options.path,
    close() {
      reader.close()
      writer.close()
    },
  }
}
