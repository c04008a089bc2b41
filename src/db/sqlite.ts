/**
 * Opens the embedded SQLite database: one writer connection (every write transaction is serialised on it,
 * see inbox/sqlite-inbox.ts) and one read-only connection that reads the last committed snapshot while a
 * write transaction is open (WAL). Migrations from `drizzle/sqlite/` are applied before anything else.
 *
 * The disk work of durability stays off the event loop: FULL's per-commit fsync of the WAL is done on the
 * thread pool (wal-sync.ts) and checkpoints on a worker thread (checkpointer.ts).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { type BetterSQLite3Database, drizzle } from 'drizzle-orm/better-sqlite3'
import { migrate } from 'drizzle-orm/better-sqlite3/migrator'
import type { Logger } from 'pino'
import { type Checkpointer, startCheckpointer } from './checkpointer.ts'
import { createWalSync, type FsyncFn, NO_WAL_SYNC, type WalSync } from './wal-sync.ts'

export const SQLITE_MIGRATIONS = fileURLToPath(new URL('../../drizzle/sqlite', import.meta.url))

export interface SqliteDatabase {
  /** The only connection that writes. */
  writer: Database.Database
  /** A read-only connection for the duplicate fast path, the admin API and health checks. */
  reader: Database.Database
  readerDb: BetterSQLite3Database
  path: string
  /** Makes commits durable (FULL) before anything is acknowledged; a no-op for NORMAL. */
  walSync: WalSync
  /** Checkpoints the WAL on a worker thread; absent for an in-memory database. */
  checkpointer: Checkpointer | undefined
  close(): Promise<void>
}

export interface OpenSqliteOptions {
  path: string
  synchronous: 'FULL' | 'NORMAL'
  /** How long a statement waits for a lock held by another process before failing with SQLITE_BUSY. */
  busyTimeoutMs?: number
  /** Replaces the WAL fsync (tests pin it to prove nothing is answered before it). */
  fsync?: FsyncFn
  /** Checkpoint thread settings; the defaults suit the service. */
  checkpoint?: { intervalMs?: number; restartBytes?: number }
  log?: Logger
}

export function openSqlite(options: OpenSqliteOptions): SqliteDatabase {
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true })
  const writer = new Database(options.path)
  try {
    writer.pragma('journal_mode = WAL')
    // FULL only adds an fsync of the WAL to every COMMIT, on this thread; walSync does it off the event loop.
    writer.pragma('synchronous = NORMAL')
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
  const inMemory = options.path === ':memory:'
  let walSync = NO_WAL_SYNC
  let checkpointer: Checkpointer | undefined
  try {
    if (!inMemory && options.synchronous === 'FULL') {
      const walPath = `${options.path}-wal`
      // SQLite creates it with the first connection in WAL mode; an empty file is a valid empty WAL.
      if (!existsSync(walPath)) writeFileSync(walPath, '', { flag: 'a' })
      walSync = createWalSync(walPath, options.fsync)
    }
    if (!inMemory) {
      checkpointer = startCheckpointer({
        path: options.path,
        writer,
        log: options.log,
        ...options.checkpoint,
      })
    }
  } catch (err) {
    walSync.close()
    reader.close()
    writer.close()
    throw err
  }
  let closed = false
  return {
    writer,
    reader,
    readerDb: drizzle(reader),
    path: options.path,
    walSync,
    checkpointer,
    async close() {
      if (closed) return
      closed = true
      await checkpointer?.close()
      walSync.close()
      reader.close()
      writer.close()
    },
  }
}
