/**
 * An inbox on a real SQLite file in a scratch folder, without the HTTP service around it: for tests of the
 * group commit and the durability under it.
 */
import { join } from 'node:path'
import pino from 'pino'
import { type OpenSqliteOptions, openSqlite, type SqliteDatabase } from '../../src/db/sqlite.ts'
import type { Handler } from '../../src/handlers.ts'
import { createSqliteInbox } from '../../src/inbox/sqlite-inbox.ts'
import { createHandlerRegistry, type LoadedHandler } from '../../src/registry/handler-registry.ts'
import { tempDir } from './temp-dir.ts'

export interface TestInboxOptions {
  /** Inline handlers, named h0, h1, … unless they carry a name. */
  handlers?: Handler[]
  sqlite?: Partial<OpenSqliteOptions>
  onBatch?: (size: number) => void
  settledCacheSize?: number
}

export function openTestInbox(options: TestInboxOptions = {}) {
  const dir = tempDir('inbox')
  const path = join(dir.path, 'db.sqlite')
  const db: SqliteDatabase = openSqlite({ path, synchronous: 'FULL', ...options.sqlite })
  const loaded = (options.handlers ?? []).map(
    (h, i) => ({ ...h, name: h.name ?? `h${i}`, file: 'inline' }) as LoadedHandler,
  )
  const inbox = createSqliteInbox({
    db,
    registry: createHandlerRegistry(loaded),
    log: pino({ level: 'silent' }),
    handlerTimeoutMs: 5000,
    maxAttempts: 5,
    ...(options.onBatch ? { onBatch: options.onBatch } : {}),
    ...(options.settledCacheSize === undefined ? {} : { settledCacheSize: options.settledCacheSize }),
  })
  return {
    db,
    inbox,
    path,
    async dispose() {
      await db.close()
      dir.remove()
    },
  }
}
