/**
 * The admin's `q` is a prefix of the event id or type, exactly as typed. A PostgreSQL database created with a
 * linguistic collation (en_US, ICU) orders `EVT_…` between the `evt_…` ids, so the index range alone would
 * also list ids that differ only in case; here the columns are given such a collation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEventHistory, listQuery } from '../../src/admin/event-history.ts'
import { openPostgres, type PostgresDatabase } from '../../src/db/postgres.ts'
import { pgTables } from '../../src/db/tables.ts'
import type { QueryDb } from '../../src/inbox/inbox.ts'
import { freshSchema, type PgSchema, postgresAvailable } from '../support/postgres.ts'
import { inboxOn } from './pruning.ts'

describe.skipIf(!postgresAvailable)('admin search on a database with a linguistic collation', () => {
  let schema: PgSchema
  let database: PostgresDatabase
  /** This PostgreSQL was built with ICU (the linguistic collation used here). */
  let icu = false

  beforeAll(async () => {
    schema = await freshSchema('search')
    database = await openPostgres({ url: schema.url, poolSize: 2 })
    icu = (await schema.query("SELECT 1 FROM pg_collation WHERE collname = 'en-US-x-icu'")).length > 0
    if (!icu) return
    await schema.query(
      'ALTER TABLE hookinbox_events ALTER COLUMN event_id TYPE text COLLATE "en-US-x-icu", ALTER COLUMN type TYPE text COLLATE "en-US-x-icu"',
    )
  })
  afterAll(async () => {
    await database?.close()
    await schema?.drop()
  })

  it('lists the ids and types that start with q, in that case only', async (ctx) => {
    if (!icu) {
      console.warn('admin search collation test skipped: this PostgreSQL has no ICU collation en-US-x-icu')
      ctx.skip()
    }
    const inbox = inboxOn(database)
    try {
      for (const [id, type] of [
        ['evt_abc1', 'charge.succeeded'],
        ['EVT_abc2', 'Charge.refunded'],
        ['evt_ABC3', 'invoice.paid'],
        ['évt_abc4', 'invoice.paid'],
        ['evt_abd5', 'charge.failed'],
      ] as const) {
        await inbox.receive({ provider: 'stripe', id, type, payload: {} }, new Date())
      }
    } finally {
      await inbox.close()
    }
    const history = createEventHistory(database.db as unknown as QueryDb, pgTables)
    const ids = async (q: string) =>
      (await history.list({ q, limit: 50 })).events.map((e) => e.eventId).sort()

    // The range alone holds the other case and the accent too (checked, so the test cannot pass for want of them).
    const inRange = await schema.query<{ event_id: string }>(
      `SELECT event_id FROM hookinbox_events WHERE event_id >= 'evt_abc' AND event_id < 'evt_abc' || U&'\\+10FFFF'`,
    )
    expect(inRange.map((r) => r.event_id).sort()).toEqual(
      ['EVT_abc2', 'evt_ABC3', 'evt_abc1', 'évt_abc4'].sort(),
    )

    expect(await ids('evt_abc')).toEqual(['evt_abc1'])
    expect(await ids('EVT_')).toEqual(['EVT_abc2'])
    expect(await ids('évt')).toEqual(['évt_abc4'])
    expect(await ids('evt_ab')).toEqual(['evt_abc1', 'evt_abd5'])
    expect(await ids('charge.')).toEqual(['evt_abc1', 'evt_abd5'])
    expect(await ids('Charge.')).toEqual(['EVT_abc2'])
  })

  it('walks the newest events first for a broad prefix, rather than sorting every match', async () => {
    // 100,000 events, one in sixteen of them with ids starting evt_a, with the planner's statistics of them.
    await schema.query(
      `INSERT INTO hookinbox_events (provider, event_id, type, status, attempts, received_at)
       SELECT 'stripe', 'evt_' || md5(i::text), 'invoice.paid', 'processed', 1, now() FROM generate_series(1, 100000) i`,
    )
    await schema.query('ANALYZE hookinbox_events')
    const db = database.db as unknown as QueryDb
    const { sql, params } = listQuery(db, { q: 'evt_a', limit: 50 }, pgTables).toSQL()
    const plan = await schema.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params)
    const text = plan.map((row) => row['QUERY PLAN']).join('\n')
    expect(text).toMatch(/Index Scan Backward/)
    expect(text).not.toMatch(/Sort/)
  })
})
