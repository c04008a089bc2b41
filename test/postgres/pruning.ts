/** An inbox with no handlers and a pruner (RETENTION_DAYS 45, DEDUP_KEEP_DAYS 400) on a PostgreSQL database. */
import pino from 'pino'
import type { PostgresDatabase } from '../../src/db/postgres.ts'
import { pgTables } from '../../src/db/tables.ts'
import type { QueryDb } from '../../src/inbox/inbox.ts'
import { createPgInbox } from '../../src/inbox/pg-inbox.ts'
import { createHandlerRegistry } from '../../src/registry/handler-registry.ts'
import { createPruner } from '../../src/retention/prune.ts'

export const inboxOn = (database: PostgresDatabase) =>
  createPgInbox({
    database,
    registry: createHandlerRegistry([]),
    log: pino({ level: 'silent' }),
    handlerTimeoutMs: 1000,
    maxAttempts: 3,
  })

export const prunerOn = (database: PostgresDatabase, inbox: ReturnType<typeof inboxOn>) =>
  createPruner({
    reader: database.db as unknown as QueryDb,
    tables: pgTables,
    maintain: inbox.maintain,
    retentionDays: 45,
    dedupKeepDays: 400,
    log: pino({ level: 'silent' }),
  })
