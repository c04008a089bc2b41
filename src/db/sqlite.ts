/**
 * Opens the embedded SQLite database: one writer connection (every write transaction is serialised on it,
 * see inbox/sqlite-inbox.ts) and one read-only connection that reads the last committed snapshot while a
 * write transaction is open (WAL). Migrations from `drizzle/sqlite/` are applied before anything else.
 *
 * The disk work of durability stays off the event loop: FULL's per-commit fsync of the WAL is done on the
 * thread pool (wal-sync.ts) and checkpoints on a worker thread (checkpointer.ts). The admin's reads, which may
 * be long, go to a read-only connection on a thread of their own (read-thread.ts).
 */
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs'
import { dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { type BetterSQLite3Database, drizzle } from 'drizzle-orm/better-sqlite3'
import { migrate } from 'drizzle-orm/better-sqlite3/migrator'
import type { Logger } from 'pino'
import { type Checkpointer, startCheckpointer } from './checkpointer.ts'
import { type ReadThread, startReadThread } from './read-thread.ts'
import { createWalSync, type FsyncFn, NO_WAL_SYNC, type WalSync } from './wal-sync.ts'

export const SQLITE_MIGRATIONS = fileURLToPath(new URL('../../drizzle/sqlite', import.meta.url))

export interface SqliteDatabase {
  /** The only connection that writes. */
  writer: Database.Database
  /** A read-only connection for the duplicate fast path, health checks and other short reads. */
  reader: Database.Database
  readerDb: BetterSQLite3Database
  /**
   * For the admin's reads: a read-only connection on its own thread, so that no search holds the deliveries.
   * An in-memory database has no other thread's connection: there, the reader above.
   */
  adminReader: BetterSQLite3Database
  /** The admin's read thread; absent for an in-memory database. */
  readThread: ReadThread | undefined
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
  /** Called once if an fsync of the WAL fails (from then on every commit is refused; see wal-sync.ts). */
  onSyncFailure?: (err: unknown) => void
  /** Checkpoint thread settings; the defaults suit the service. */
  checkpoint?: { intervalMs?: number; restartBytes?: number }
  /** Tests: holds the admin's read thread (see read-thread.ts). */
  readThreadHold?: SharedArrayBuffer
  log?: Logger
}

export function openSqlite(options: OpenSqliteOptions): SqliteDatabase {
  const inMemory = options.path === ':memory:'
  if (!inMemory) {
    mkdirSync(dirname(options.path), { recursive: true })
    // The payloads are customers' data: a new database is its owner's alone (SQLite would make it 0644), and
    // SQLite gives its -wal and -shm the database file's mode. An existing file keeps the mode it has.
    if (!existsSync(options.path)) closeSync(openSync(options.path, 'a', 0o600))
  }
  const writer = new Database(options.path)
  try {
    const mode = writer.pragma('journal_mode = WAL', { simple: true })
    if (!inMemory && mode !== 'wal') {
      throw new Error(`SQLite could not switch ${options.path} to WAL mode (journal_mode is ${String(mode)})`)
    }
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
  let walSync = NO_WAL_SYNC
  let checkpointer: Checkpointer | undefined
  try {
    // The file SQLite really opened (symlinks resolved): its WAL lies beside it, not beside the link.
    const main = (writer.pragma('database_list') as Array<{ name: string; file: string }>).find(
      (d) => d.name === 'main',
    )
    const file = main?.file || options.path
    if (!inMemory && options.synchronous === 'FULL') {
      const walPath = `${file}-wal`
      // SQLite created it when the writer first read in WAL mode (the migrations); syncing any other file
      // would make FULL silently NORMAL.
      if (!existsSync(walPath)) throw new Error(`SQLite's WAL file ${walPath} is missing`)
      walSync = createWalSync(walPath, {
        ...(options.fsync ? { fsync: options.fsync } : {}),
        ...(options.onSyncFailure ? { onFailure: options.onSyncFailure } : {}),
      })
    }
    if (!inMemory) {
      checkpointer = startCheckpointer({
        path: file,
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
  const readerDb = drizzle(reader)
  const readThread = inMemory
    ? undefined
    : startReadThread({
        path: options.path,
        ...(options.log ? { log: options.log } : {}),
        ...(options.readThreadHold ? { hold: options.readThreadHold } : {}),
      })
  let closed = false
  return {
    writer,
    reader,
    readerDb,
    adminReader: readThread?.db ?? readerDb,
    readThread,
    path: options.path,
    walSync,
    checkpointer,
    async close() {
      if (closed) return
      closed = true
      await readThread?.close()
      await checkpointer?.close()
      walSync.close()
      reader.close()
      writer.close()
    },
  }
}
