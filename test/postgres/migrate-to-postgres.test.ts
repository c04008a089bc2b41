import Database from 'better-sqlite3'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { openPostgres } from '../../src/db/postgres.ts'
import { createPgInbox } from '../../src/inbox/pg-inbox.ts'
import { createHandlerRegistry } from '../../src/registry/handler-registry.ts'
import { migrateToPostgres } from '../../src/tools/migrate-to-postgres.ts'
import { adminGet } from '../support/admin-client.ts'
import {
  freshSchema,
  type PgSchema,
  pgEffectHandler,
  postgresAvailable,
  untilActivity,
} from '../support/postgres.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { effectHandler, startTestService } from '../support/test-service.ts'
import { gatedHandler } from './stuck-handler.ts'

describe.skipIf(!postgresAvailable)('moving from SQLite to PostgreSQL', () => {
  let schema: PgSchema | undefined
  afterAll(async () => {
    await schema?.drop()
  })

  it('copies the history: old events stay duplicates, details and attempt logs survive, new events continue', async () => {
    const sqlite = await startTestService({ handlers: { 'effect.ts': effectHandler() } })
    const old = Array.from({ length: 5 }, () => stripeEvent())
    for (const e of old) await postStripe(sqlite.url, e)
    await sqlite.close()
    // A PayPal transmission bound to its body, as a PayPal delivery leaves it.
    const file = new Database(sqlite.dbPath)
    file
      .prepare(
        'INSERT INTO hookinbox_transmissions (provider, transmission_id, body_sha256, received_at) VALUES (?, ?, ?, ?)',
      )
      .run('paypal', 'tid-migrated', 'f'.repeat(64), Date.now())
    file.close()

    schema = await freshSchema()
    const lines: string[] = []
    const copied = await migrateToPostgres(sqlite.dbPath, schema.url, (l) => lines.push(l))
    expect(copied).toMatchObject({ events: 5, attempts: 5, transmissions: 1 })
    expect(
      await schema.query('SELECT provider, transmission_id, body_sha256 FROM hookinbox_transmissions'),
    ).toEqual([{ provider: 'paypal', transmission_id: 'tid-migrated', body_sha256: 'f'.repeat(64) }])
    // Running it again copies nothing twice.
    expect(await migrateToPostgres(sqlite.dbPath, schema.url, () => {})).toMatchObject({
      events: 0,
      attempts: 0,
      transmissions: 0,
    })

    const pg = await startTestService({
      env: { DATABASE_URL: schema.url },
      handlers: { 'effect.ts': pgEffectHandler() },
    })
    try {
      expect((await postStripe(pg.url, old[0] as Record<string, unknown>)).body).toMatchObject({
        duplicate: true,
      })
      const detail = await adminGet<{ payload: unknown; attemptLog: unknown[] }>(
        pg.url,
        `/admin/api/events/stripe/${old[1]?.id}`,
      )
      expect(detail.body.payload).toEqual(old[1])
      expect(detail.body.attemptLog).toHaveLength(1)
      const fresh = stripeEvent()
      expect((await postStripe(pg.url, fresh)).body).toMatchObject({ duplicate: false, status: 'processed' })
      const [{ seq } = { seq: 0 }] = await schema.query<{ seq: number }>(
        'SELECT seq FROM hookinbox_events WHERE event_id = $1',
        [fresh.id],
      )
      expect(Number(seq)).toBeGreaterThan(5)
    } finally {
      await pg.dispose()
      await sqlite.dispose()
    }
  })

  it('carries over what ctx.isStale knows: an older event for an object stays stale after the move', async () => {
    // Applies an update only if it is the newest seen for its subscription (the README's pattern).
    const handlers = {
      'stale.ts': `import { sql } from 'drizzle-orm'
export default {
  provider: 'stripe',
  events: ['customer.subscription.updated'],
  async handle(event, ctx) {
    if (await ctx.isStale('subscription:sub_1', new Date(event.payload.created * 1000))) return
    const applied = sql\`INSERT INTO test_effects (event_id, handler) VALUES (\${event.id}, 'applied')\`
    if (ctx.dialect === 'sqlite') ctx.tx.run(applied)
    else await ctx.tx.execute(applied)
  },
}
`,
    }
    const sqlite = await startTestService({ handlers })
    const t = Math.floor(Date.now() / 1000)
    const newer = stripeEvent({ type: 'customer.subscription.updated', created: t })
    expect((await postStripe(sqlite.url, newer)).body).toMatchObject({ status: 'processed' })
    await sqlite.close()

    const target = await freshSchema()
    await migrateToPostgres(sqlite.dbPath, target.url, () => {})
    const pg = await startTestService({ env: { DATABASE_URL: target.url }, handlers })
    try {
      // Providers do not deliver in order: an update made a minute before the one applied arrives now.
      const older = stripeEvent({ type: 'customer.subscription.updated', created: t - 60 })
      expect((await postStripe(pg.url, older)).status).toBe(200)
      expect(await target.query('SELECT event_id FROM test_effects')).toEqual([])
    } finally {
      await pg.dispose()
      await sqlite.dispose()
      await target.drop()
    }
  })

  it('run again after an interruption, it copies the attempt logs of every event', async () => {
    const sqlite = await startTestService({ handlers: { 'effect.ts': effectHandler() } })
    const sent = Array.from({ length: 3 }, () => stripeEvent())
    for (const e of sent) await postStripe(sqlite.url, e)
    await sqlite.close()

    const target = await freshSchema()
    try {
      // The first run stops after writing a batch of events, before their attempt logs (here: the insert
      // of attempts fails, as a dropped connection or a killed process would stop it there).
      const prepared = await openPostgres({ url: target.url, poolSize: 1 })
      await prepared.pool.query(`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'interrupted'; END $$`)
      await prepared.pool.query(
        'CREATE TRIGGER interrupt BEFORE INSERT ON hookinbox_attempts FOR EACH ROW EXECUTE FUNCTION refuse()',
      )
      await expect(migrateToPostgres(sqlite.dbPath, target.url, () => {})).rejects.toThrow()
      await prepared.pool.query('DROP TRIGGER interrupt ON hookinbox_attempts')
      await prepared.close()

      await migrateToPostgres(sqlite.dbPath, target.url, () => {})
      const logged = await target.query<{ event_id: string; n: string }>(
        'SELECT e.event_id, count(a.id) AS n FROM hookinbox_events e LEFT JOIN hookinbox_attempts a ON a.event_seq = e.seq GROUP BY e.event_id ORDER BY e.event_id',
      )
      expect(logged.map((r) => [r.event_id, Number(r.n)])).toEqual(
        sent.map((e) => [e.id, 1]).sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      )
    } finally {
      await sqlite.dispose()
      await target.drop()
    }
  })
  it('run again after events arrived on both sides, it copies the events the target lacks, whatever their sequence numbers', async () => {
    // The first copy was made while the SQLite service still ran (the tool says such events are missed), and
    // PostgreSQL instances have since taken deliveries of their own; the second run must bring the rest over.
    const sqlite = await startTestService({ handlers: { 'effect.ts': effectHandler() } })
    for (let i = 0; i < 3; i++) await postStripe(sqlite.url, stripeEvent())
    const target = await freshSchema()
    try {
      await migrateToPostgres(sqlite.dbPath, target.url, () => {})
      const missed = [stripeEvent(), stripeEvent()]
      for (const e of missed) expect((await postStripe(sqlite.url, e)).status).toBe(200)
      await sqlite.close()

      const pg = await startTestService({
        env: { DATABASE_URL: target.url },
        handlers: { 'effect.ts': pgEffectHandler() },
      })
      try {
        for (let i = 0; i < 2; i++) await postStripe(pg.url, stripeEvent())
      } finally {
        await pg.close()
      }

      const second = await migrateToPostgres(sqlite.dbPath, target.url, () => {})
      expect(second).toMatchObject({ events: 2, attempts: 2 })
      const pg2 = await startTestService({
        env: { DATABASE_URL: target.url },
        handlers: { 'effect.ts': pgEffectHandler() },
      })
      try {
        // A late copy of an event the SQLite service processed is a duplicate: its handler does not run again.
        for (const e of missed) {
          expect((await postStripe(pg2.url, e)).body).toMatchObject({ duplicate: true })
          const detail = await adminGet<{ attemptLog: unknown[] }>(
            pg2.url,
            `/admin/api/events/stripe/${e.id}`,
          )
          expect(detail.body.attemptLog).toHaveLength(1)
        }
        const rerun = await target.query('SELECT event_id FROM test_effects WHERE event_id = ANY($1)', [
          missed.map((e) => e.id),
        ])
        expect(rerun).toEqual([])
        // New deliveries are still numbered after every stored event.
        expect((await postStripe(pg2.url, stripeEvent())).body).toMatchObject({ status: 'processed' })
      } finally {
        await pg2.dispose()
      }
    } finally {
      await sqlite.dispose()
      await target.drop()
    }
  })
  it('run while the target takes deliveries, it leaves the status counts equal to the events and the numbering ahead of them', async () => {
    const sqlite = await startTestService({ handlers: { 'effect.ts': effectHandler() } })
    for (let i = 0; i < 20; i++) await postStripe(sqlite.url, stripeEvent())
    await sqlite.close()
    const target = await freshSchema()
    const database = await openPostgres({ url: target.url, poolSize: 4 })
    const inbox = createPgInbox({
      database,
      registry: createHandlerRegistry([]),
      log: pino({ level: 'silent' }),
      handlerTimeoutMs: 1000,
      maxAttempts: 3,
    })
    try {
      // Four streams of new events on the target for as long as the runs go on.
      let running = true
      let received = 0
      const streams = Array.from({ length: 4 }, async (_, s) => {
        for (let i = 0; running; i++) {
          await inbox.receive(
            { provider: 'stripe', id: `evt_pg_${s}_${i}`, type: 't', payload: {} },
            new Date(),
          )
          received++
        }
      })
      for (let run = 0; run < 8; run++) await migrateToPostgres(sqlite.dbPath, target.url, () => {})
      running = false
      await Promise.all(streams)
      expect(received).toBeGreaterThan(0)

      const counted = await target.query<{ status: string; n: string }>(
        'SELECT status, sum(n)::text AS n FROM hookinbox_status_counts GROUP BY status HAVING sum(n) <> 0 ORDER BY status',
      )
      const stored = await target.query<{ status: string; n: string }>(
        'SELECT status, count(*)::text AS n FROM hookinbox_events GROUP BY status ORDER BY status',
      )
      expect(counted).toEqual(stored)
      expect(stored).toEqual([
        { status: 'ignored', n: String(received) },
        { status: 'processed', n: '20' },
      ])
    } finally {
      await inbox.close()
      await database.close()
      await sqlite.dispose()
      await target.drop()
    }
  })

  it('run while a delivery on the target is in its handlers, it does not hold up the deliveries of other events', async () => {
    const sqlite = await startTestService({ handlers: { 'effect.ts': effectHandler() } })
    for (let i = 0; i < 3; i++) await postStripe(sqlite.url, stripeEvent())
    await sqlite.close()
    const target = await freshSchema()
    const database = await openPostgres({ url: target.url, poolSize: 4 })
    const gate = gatedHandler('slow')
    const inbox = createPgInbox({
      database,
      registry: createHandlerRegistry([gate.handler]),
      log: pino({ level: 'silent' }),
      handlerTimeoutMs: 30_000,
      maxAttempts: 3,
    })
    try {
      // A delivery whose handler takes its time (up to HANDLER_TIMEOUT_MS, several of them in turn) holds
      // its event's row, and the events table against a lock of it, until it commits.
      const inFlight = inbox.receive(
        { provider: 'stripe', id: 'evt_slow', type: 'slow', payload: {} },
        new Date(),
      )
      await gate.inHandler
      // Named, so that the lock looked for below is this run's and not another test file's.
      const named = new URL(target.url)
      named.searchParams.set('application_name', target.name)
      const migrating = migrateToPostgres(sqlite.dbPath, named.toString(), () => {})
      migrating.catch(() => {})
      await untilActivity(
        target,
        "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND query ILIKE 'LOCK TABLE \"hookinbox_events\"%' AND state = 'active'",
        [target.name],
        'the migration never tried to lock the events',
      )
      // Another event meanwhile is settled while that handler still waits (it waits until released): it is not
      // held up for as long as the handler runs (a 503 past the query timeout). The bound only ends a hang.
      const other = await Promise.race([
        inbox.receive({ provider: 'stripe', id: 'evt_other', type: 'other', payload: {} }, new Date()),
        new Promise<'held up'>((r) => setTimeout(() => r('held up'), 10_000)),
      ])
      gate.release()
      expect(other).toMatchObject({ status: 'ignored' })
      expect((await inFlight).status).toBe('processed')
      expect(await migrating).toMatchObject({ events: 3 })
      expect(
        await target.query('SELECT status, count(*)::int AS n FROM hookinbox_events GROUP BY 1 ORDER BY 1'),
      ).toEqual([
        { status: 'ignored', n: 1 },
        { status: 'processed', n: 4 },
      ])
    } finally {
      gate.release()
      await inbox.close()
      await database.close()
      await sqlite.dispose()
      await target.drop()
    }
  })
})
