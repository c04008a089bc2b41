/**
 * Retention on PostgreSQL: instances started together run their first pass together, over the same windows,
 * and the status counts must still match the events left; an instance whose clock was set back stamps an
 * event long before the events that arrived earlier, and those are still pruned and deleted by their own age.
 */
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openPostgres, type PostgresDatabase } from '../../src/db/postgres.ts'
import { createPgInbox } from '../../src/inbox/pg-inbox.ts'
import { createHandlerRegistry } from '../../src/registry/handler-registry.ts'
import { freshSchema, type PgSchema, postgresAvailable, untilActivity } from '../support/postgres.ts'
import { inboxOn, prunerOn } from './pruning.ts'
import { gatedHandler } from './stuck-handler.ts'

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
    const inboxes = dbs.map(inboxOn)
    const [first] = inboxes
    if (!first) throw new Error('no inbox')
    for (let i = 0; i < 300; i++) {
      const receivedAt = new Date(now - 500 * DAY + i * 1000)
      await first.receive({ provider: 'stripe', id: `old_${i}`, type: 't', payload: {} }, receivedAt)
    }
    await first.receive({ provider: 'stripe', id: 'new_1', type: 't', payload: {} }, new Date(now))
    const pruners = dbs.map((d, i) => prunerOn(d, inboxes[i] ?? first))
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

describe.skipIf(!postgresAvailable)(
  'retention and an event stamped by a clock set back, on PostgreSQL',
  () => {
    let schema: PgSchema
    let database: PostgresDatabase

    beforeAll(async () => {
      schema = await freshSchema('prune')
      database = await openPostgres({ url: schema.url, poolSize: 2 })
    })
    afterAll(async () => {
      await database?.close()
      await schema?.drop()
    })

    it('prunes and deletes each event by its own arrival time', async () => {
      const today = Date.now()
      const inbox = inboxOn(database)
      const pruner = prunerOn(database, inbox)
      const receive = (id: string, at: number) =>
        inbox.receive({ provider: 'stripe', id, type: 't', payload: { id } }, new Date(at))
      const payload = async (id: string) =>
        (
          await schema.query<{ payload: string | null }>(
            'SELECT payload FROM hookinbox_events WHERE event_id = $1',
            [id],
          )
        )[0]?.payload
      try {
        await receive('first', today)
        await receive('years_back', today - 2 * 365 * DAY)
        await receive('months_back', today - 100 * DAY)
        await receive('last', today + 60_000)

        expect(await pruner.prune(new Date(today + DAY))).toEqual({ payloadsPruned: 1, eventsDeleted: 1 })
        expect(await payload('years_back')).toBeUndefined()
        expect(await payload('months_back')).toBeNull()
        expect(await payload('first')).toBe('{"id":"first"}')
        expect(await pruner.prune(new Date(today + 46 * DAY))).toEqual({
          payloadsPruned: 2,
          eventsDeleted: 0,
        })
        expect(await payload('first')).toBeNull()
        expect(await pruner.prune(new Date(today + 401 * DAY))).toEqual({
          payloadsPruned: 0,
          eventsDeleted: 3,
        })
        const counted = await schema.query<{ n: string }>(
          'SELECT coalesce(sum(n), 0) AS n FROM hookinbox_status_counts',
        )
        expect(Number(counted[0]?.n)).toBe(0)
        expect(await schema.query('SELECT event_id FROM hookinbox_events')).toEqual([])
      } finally {
        await inbox.close()
      }
    })
  },
)

describe.skipIf(!postgresAvailable)(
  'retention deleting an event while a replay of it is settling, on PostgreSQL',
  () => {
    let schema: PgSchema
    let database: PostgresDatabase

    beforeAll(async () => {
      schema = await freshSchema('prune')
      // Named, so that the wait looked for below is this test's and not another test file's running meanwhile.
      const url = new URL(schema.url)
      url.searchParams.set('application_name', schema.name)
      database = await openPostgres({ url: url.toString(), poolSize: 3 })
    })
    afterAll(async () => {
      await database?.close()
      await schema?.drop()
    })

    it('leaves no attempt log behind its deleted event (nor one left behind before)', async () => {
      const today = Date.now()
      const gate = gatedHandler('gated')
      gate.failing = true
      const inbox = createPgInbox({
        database,
        registry: createHandlerRegistry([gate.handler]),
        log: pino({ level: 'silent' }),
        handlerTimeoutMs: 10_000,
        maxAttempts: 3,
      })
      const pruner = prunerOn(database, inbox)
      try {
        const receivedAt = new Date(today - 500 * DAY)
        // An attempt log an earlier version's race left without its event: the same pass deletes it.
        await inbox.receive(
          { provider: 'stripe', id: 'evt_orphaned', type: 'gated', payload: {} },
          receivedAt,
        )
        await schema.query("DELETE FROM hookinbox_events WHERE event_id = 'evt_orphaned'")
        const first = await inbox.receive(
          { provider: 'stripe', id: 'evt_late', type: 'gated', payload: {} },
          receivedAt,
        )
        expect(first.status).toBe('failed')

        // The replay holds the event's row from its look-up to its commit; retention's delete waits for it.
        gate.failing = false
        const replay = inbox.replay('stripe', 'evt_late')
        await gate.inHandler
        const pass = pruner.prune(new Date(today))
        await untilActivity(
          schema,
          "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock' AND query ILIKE 'delete from \"hookinbox_events\"%'",
          [schema.name],
          'retention never waited for the replay',
        )
        gate.release()
        expect((await replay).status).toBe('processed')
        expect((await pass).eventsDeleted).toBe(1)

        expect(await schema.query('SELECT event_id FROM hookinbox_events')).toEqual([])
        // The replay's attempt log was written after the pass had started; it goes with its event all the same.
        expect(await schema.query('SELECT event_seq, trigger FROM hookinbox_attempts')).toEqual([])
      } finally {
        gate.release()
        await inbox.close()
      }
    })
  },
)
