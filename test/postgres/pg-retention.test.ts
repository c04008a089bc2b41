/**
 * Retention on one PostgreSQL database shared by several instances: instances started together run their
 * first pass together, over the same windows, and the status counts must still match the events left.
 */
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openPostgres, type PostgresDatabase } from '../../src/db/postgres.ts'
import { pgTables } from '../../src/db/tables.ts'
import type { QueryDb } from '../../src/inbox/inbox.ts'
import { createPgInbox } from '../../src/inbox/pg-inbox.ts'
import { createHandlerRegistry } from '../../src/registry/handler-registry.ts'
import { createPruner } from '../../src/retention/prune.ts'
import { freshSchema, type PgSchema, postgresAvailable } from '../support/postgres.ts'

const DAY = 86_400_000

describe.skipIf(!postgresAvailable)('two instances pruning at the same time', () => {
  let schema: PgSchema
  const dbs: PostgresDatabase[] = []

  beforeAll(async () => {
    schema = await freshSchema('prune')
    for (let i = 0; i < 2; i++) dbs.push(await openPostgres({ url: schema.url, poolSize: 2 }))
  })
  afterAll(async () => {
    for (const d of dbs) await d.close()
    await schema?.drop()
  })

  it('keep the status counts equal to the events', async () => {
    const now = Date.now()
    const inboxes = dbs.map((database) =>
      createPgInbox({
        database,
        registry: createHandlerRegistry([]),
        log: pino({ level: 'silent' }),
        handlerTimeoutMs: 1000,
        maxAttempts: 3,
      }),
    )
    const [first] = inboxes
    if (!first) throw new Error('no inbox')
    for (let i = 0; i < 300; i++) {
      const receivedAt = new Date(now - 500 * DAY + i * 1000)
      await first.receive({ provider: 'stripe', id: `old_${i}`, type: 't', payload: {} }, receivedAt)
    }
    await first.receive({ provider: 'stripe', id: 'new_1', type: 't', payload: {} }, new Date(now))
    const pruners = dbs.map((d, i) =>
      createPruner({
        reader: d.db as unknown as QueryDb,
        tables: pgTables,
        maintain: (inboxes[i] ?? first).maintain,
        retentionDays: 45,
        dedupKeepDays: 400,
        log: pino({ level: 'silent' }),
      }),
    )
    const results = await Promise.all(pruners.map((p) => p.prune(new Date(now))))
    const counted = await schema.query<{ n: string }>(
      "SELECT coalesce(sum(n), 0) AS n FROM hookinbox_status_counts WHERE provider = 'stripe'",
    )
    const rows = await schema.query<{ n: string }>('SELECT count(*) AS n FROM hookinbox_events')
    for (const inbox of inboxes) await inbox.close()
    expect(Number(counted[0]?.n)).toBe(Number(rows[0]?.n))
    expect(Number(rows[0]?.n)).toBe(1)
    // Between them the two passes deleted each old event once.
    expect(results.reduce((sum, r) => sum + r.eventsDeleted, 0)).toBe(300)
  })
})
