/**
 * The core behaviour on PostgreSQL: the same service, the same answers, DATABASE_URL=postgres://….
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventPage, Stats } from '../../src/admin/event-history.ts'
import { adminGet, adminPost } from '../support/admin-client.ts'
import {
  freshSchema,
  type PgSchema,
  pgEffectCount,
  pgEffectHandler,
  pgStoredEvent,
  postgresAvailable,
} from '../support/postgres.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { startTestService, type TestService } from '../support/test-service.ts'

const late = globalThis as { pgLate?: Record<string, string>; pgFail?: Set<string> }

describe.skipIf(!postgresAvailable)('on PostgreSQL', () => {
  let schema: PgSchema
  let svc: TestService
  const effects = (id: string) => pgEffectCount(schema, id)
  const row = (id: string) => pgStoredEvent(schema, id)

  beforeAll(async () => {
    late.pgLate = {}
    late.pgFail = new Set()
    schema = await freshSchema()
    await schema.query('CREATE TABLE ledger (k TEXT PRIMARY KEY)')
    await schema.query("INSERT INTO ledger VALUES ('already-booked')")
    svc = await startTestService({
      // debug: handler errors are logged at that level, and the tests below search those lines too.
      env: { DATABASE_URL: schema.url, MAX_ATTEMPTS: '2', HANDLER_TIMEOUT_MS: '1000', LOG_LEVEL: 'debug' },
      handlers: {
        'a-effect.ts': pgEffectHandler({
          events: "['checkout.session.completed', 'test.fail', 'test.permanent']",
          // The failure takes 100 ms, so that a burst of copies surely arrives while it is under way.
          extra:
            "if (globalThis.pgFail.has(event.id)) { await new Promise((r) => setTimeout(r, 100)); throw new Error('handler says no') }",
        }),
        'c-stale.ts': `export default {
  provider: 'stripe',
  events: ['test.stale'],
  async handle(event, ctx) {
    globalThis.pgStale = [...(globalThis.pgStale ?? []), await ctx.isStale('obj-1', new Date(event.payload.created * 1000))]
  },
}
`,
        'b-slow.ts': `import { sql } from 'drizzle-orm'
export default {
  provider: 'stripe',
  events: ['test.slow'],
  async handle(event, ctx) {
    await ctx.tx.execute(sql\`INSERT INTO test_effects (event_id, handler) VALUES (\${event.id}, 'before')\`)
    await new Promise((r) => setTimeout(r, 1500))
    try {
      await ctx.tx.execute(sql\`INSERT INTO test_effects (event_id, handler) VALUES (\${event.id}, 'after')\`)
      globalThis.pgLate[event.id] = 'written'
    } catch (err) {
      globalThis.pgLate[event.id] = (err.cause ?? err).name
    }
  },
}
`,
        'e-own-savepoint.ts': `import { sql } from 'drizzle-orm'
export default {
  provider: 'stripe',
  events: ['test.own-savepoint'],
  async handle(event, ctx) {
    await ctx.tx.execute(sql\`SAVEPOINT mine\`)
    try {
      await ctx.tx.execute(sql\`INSERT INTO ledger (k) VALUES ('already-booked')\`)
    } catch {
      await ctx.tx.execute(sql\`ROLLBACK TO SAVEPOINT mine\`)
    }
  },
}
`,
        'f-not-awaited.ts': `import { sql } from 'drizzle-orm'
export default {
  provider: 'stripe',
  events: ['test.not-awaited'],
  async handle(event, ctx) {
    ctx.tx.execute(sql\`INSERT INTO ledger (k) VALUES ('already-booked')\`).catch(() => {})
  },
}
`,
        'g-uncaught.ts': `import { sql } from 'drizzle-orm'
export default {
  provider: 'stripe',
  events: ['test.uncaught'],
  async handle(event, ctx) {
    await ctx.tx.execute(sql\`INSERT INTO ledger (k) VALUES (\${'already-booked'}), (\${event.payload.data.object.note})\`)
  },
}
`,
        'h-commits.ts': `import { sql } from 'drizzle-orm'
export default {
  provider: 'stripe',
  events: ['test.commits'],
  async handle(event, ctx) {
    await ctx.tx.execute(sql\`INSERT INTO test_effects (event_id, handler) VALUES (\${event.id}, 'before-commit')\`)
    await ctx.tx.execute(sql\`COMMIT\`)
  },
}
`,
        'i-catches-then-writes.ts': `import { sql } from 'drizzle-orm'
export default {
  provider: 'stripe',
  events: ['test.catches-then-writes'],
  async handle(event, ctx) {
    try {
      await ctx.tx.execute(sql\`INSERT INTO ledger (k) VALUES ('already-booked')\`)
    } catch {
      // "already booked": go on with the rest of the work
    }
    await ctx.tx.execute(sql\`INSERT INTO test_effects (event_id, handler) VALUES (\${event.id}, 'after-catch')\`)
  },
}
`,
        'd-catches.ts': `import { sql } from 'drizzle-orm'
export default {
  provider: 'stripe',
  events: ['test.catches'],
  async handle(event, ctx) {
    try {
      await ctx.tx.execute(sql\`INSERT INTO ledger (k) VALUES ('already-booked')\`)
    } catch {
      // "already booked": fine on SQLite, but PostgreSQL has aborted the transaction
    }
  },
}
`,
      },
    })
  })
  afterAll(async () => {
    await svc?.dispose()
    await schema?.drop()
  })

  it('processes a delivery once and answers re-deliveries as duplicates', async () => {
    const event = stripeEvent()
    expect((await postStripe(svc.url, event)).body).toEqual({
      received: true,
      duplicate: false,
      status: 'processed',
    })
    expect((await postStripe(svc.url, event)).body).toEqual({
      received: true,
      duplicate: true,
      status: 'processed',
    })
    expect(await effects(event.id as string)).toBe(1)
    expect(await row(event.id as string)).toMatchObject({ status: 'processed', attempts: 1 })
  })

  it('counts every duplicate delivery on the event (written together, shortly after)', async () => {
    const event = stripeEvent()
    await postStripe(svc.url, event)
    const sent = new Date()
    const answers = await Promise.all(Array.from({ length: 30 }, () => postStripe(svc.url, event)))
    expect(answers.every((a) => (a.body as { duplicate?: boolean }).duplicate === true)).toBe(true)
    const seen = async () =>
      (
        await schema.query<{ duplicates: number; last_seen_at: Date | null }>(
          'SELECT duplicates, last_seen_at FROM hookinbox_events WHERE event_id = $1',
          [event.id],
        )
      )[0]
    for (let waited = 0; (await seen())?.duplicates !== 30 && waited < 5000; waited += 50) {
      await new Promise((r) => setTimeout(r, 50))
    }
    const row = await seen()
    expect(row?.duplicates).toBe(30)
    expect(row?.last_seen_at?.getTime()).toBeGreaterThanOrEqual(sent.getTime() - 1000)
  })

  it('a stop writes the duplicate sightings not written yet, after any write of them under way', async () => {
    const events = Array.from({ length: 300 }, () => stripeEvent({ type: 'test.sightings' }))
    for (let i = 0; i < events.length; i += 50) {
      await Promise.all(events.slice(i, i + 50).map((e) => postStripe(svc.url, e)))
    }
    // Duplicates, then a stop at once: whatever the 200 ms flush has not written yet is written by the stop.
    const copies = await Promise.all(events.map((e) => postStripe(svc.url, e)))
    expect(copies.every((c) => (c.body as { duplicate?: boolean }).duplicate === true)).toBe(true)
    svc = await svc.restart()
    const [sum] = await schema.query<{ n: string }>(
      "SELECT sum(duplicates)::text AS n FROM hookinbox_events WHERE type = 'test.sightings'",
    )
    expect(sum?.n).toBe('300')
  })

  it('50 concurrent deliveries of one new event: all 200, exactly one effect', async () => {
    const event = stripeEvent()
    const results = await Promise.all(Array.from({ length: 50 }, () => postStripe(svc.url, event)))
    expect(results.filter((r) => r.status !== 200).map((r) => r.text)).toEqual([])
    expect(results.filter((r) => (r.body as { duplicate: boolean }).duplicate === false)).toHaveLength(1)
    expect(await effects(event.id as string)).toBe(1)
  })

  it('copies of an event reaching this instance while it is processed share its outcome: a failing handler runs once', async () => {
    const event = stripeEvent()
    late.pgFail?.add(event.id as string)
    const burst = await Promise.all(Array.from({ length: 6 }, () => postStripe(svc.url, event)))
    expect(burst.map((r) => r.status)).toEqual(Array(6).fill(500))
    // One attempt, not MAX_ATTEMPTS (2) used up by the burst and the event parked.
    expect(await row(event.id as string)).toMatchObject({ status: 'failed', attempts: 1 })
    late.pgFail?.delete(event.id as string)
    expect((await postStripe(svc.url, event)).status).toBe(200)
    expect(await row(event.id as string)).toMatchObject({ status: 'processed', attempts: 2 })
    expect(await effects(event.id as string)).toBe(1)
  })

  it('a failing handler rolls back its writes (500, failed), then parks at MAX_ATTEMPTS; a replay processes it once', async () => {
    const event = stripeEvent({ type: 'test.fail' })
    late.pgFail?.add(event.id as string)
    expect((await postStripe(svc.url, event)).status).toBe(500)
    expect(await effects(event.id as string)).toBe(0)
    expect(await row(event.id as string)).toMatchObject({ status: 'failed', attempts: 1 })
    expect((await postStripe(svc.url, event)).body).toMatchObject({ status: 'parked' })
    late.pgFail?.delete(event.id as string)
    const replay = await adminPost(svc.url, `/admin/api/events/stripe/${event.id}/replay`)
    expect(replay.body).toMatchObject({ status: 'processed', attempts: 3 })
    expect(await effects(event.id as string)).toBe(1)
    expect((await adminPost(svc.url, `/admin/api/events/stripe/${event.id}/replay`)).status).toBe(409)
  })

  it('a handler that catches its own failed statement fails its event, as PostgreSQL aborted the transaction', async () => {
    const marker = `payload-marker-${Date.now().toString(36)}`
    const event = stripeEvent({ type: 'test.catches', data: { object: { note: marker } } })
    expect((await postStripe(svc.url, event)).status).toBe(500)
    expect(await row(event.id as string)).toMatchObject({ status: 'failed', attempts: 1 })
    expect((await row(event.id as string))?.last_error).toContain('aborts the PostgreSQL transaction')
    // Recorded like any failure: counted, retried, parked at MAX_ATTEMPTS (2) and then acknowledged.
    expect((await postStripe(svc.url, event)).status).toBe(200)
    expect(await row(event.id as string)).toMatchObject({ status: 'parked', attempts: 2 })
    expect(svc.logs.filter((line) => line.includes(marker))).toEqual([])
  })

  it('a handler that catches its failed statement and writes on is told why its next statement failed', async () => {
    const event = stripeEvent({ type: 'test.catches-then-writes' })
    expect((await postStripe(svc.url, event)).status).toBe(500)
    const stored = await row(event.id as string)
    expect(stored).toMatchObject({ status: 'failed', attempts: 1 })
    // Not only PostgreSQL's "current transaction is aborted": what caused it, and what to write instead.
    expect(stored?.last_error).toContain('Failed query: INSERT INTO test_effects')
    expect(stored?.last_error).toContain('an earlier statement of this handler failed')
    expect(stored?.last_error).toContain('ON CONFLICT DO NOTHING')
    expect(await effects(event.id as string)).toBe(0)
  })

  it('a handler that recovers through a savepoint of its own is processed; one that did not wait for its failing statement fails', async () => {
    const recovers = stripeEvent({ type: 'test.own-savepoint' })
    expect((await postStripe(svc.url, recovers)).status).toBe(200)
    expect(await row(recovers.id as string)).toMatchObject({ status: 'processed' })
    const floating = stripeEvent({ type: 'test.not-awaited' })
    expect((await postStripe(svc.url, floating)).status).toBe(500)
    expect(await row(floating.id as string)).toMatchObject({ status: 'failed', attempts: 1 })
  })

  it('a handler whose query fails: last_error and the logs have the SQL and the error, not the bound values', async () => {
    const marker = `bound-value-${Date.now().toString(36)}`
    const event = stripeEvent({ type: 'test.uncaught', data: { object: { note: marker } } })
    expect((await postStripe(svc.url, event)).status).toBe(500)
    const stored = await row(event.id as string)
    expect(stored?.last_error).toContain('Failed query: INSERT INTO ledger (k) VALUES ($1), ($2)')
    expect(stored?.last_error).toContain('duplicate key value')
    expect(stored?.last_error).not.toContain(marker)
    expect(svc.logs.some((line) => line.includes('Failed query: INSERT INTO ledger'))).toBe(true)
    expect(svc.logs.filter((line) => line.includes(marker))).toEqual([])
  })

  it('a handler cannot COMMIT the transaction of its event: the event fails and its writes roll back', async () => {
    const event = stripeEvent({ type: 'test.commits' })
    expect((await postStripe(svc.url, event)).status).toBe(500)
    expect(await row(event.id as string)).toMatchObject({ status: 'failed', attempts: 1 })
    expect((await row(event.id as string))?.last_error).toContain("ctx.tx is the event's transaction")
    expect(await effects(event.id as string)).toBe(0)
  })

  it('a handler over the timeout is rolled back and cannot write afterwards', async () => {
    const event = stripeEvent({ type: 'test.slow' })
    expect((await postStripe(svc.url, event)).status).toBe(500)
    await new Promise((r) => setTimeout(r, 800))
    expect(late.pgLate?.[event.id as string]).toBe('RevokedTransactionError')
    expect(await effects(event.id as string)).toBe(0)
  })

  it('ctx.isStale tells an out-of-order event apart on PostgreSQL', async () => {
    const t = Math.floor(Date.now() / 1000)
    await postStripe(svc.url, stripeEvent({ type: 'test.stale', created: t }))
    await postStripe(svc.url, stripeEvent({ type: 'test.stale', created: t - 60 }))
    await postStripe(svc.url, stripeEvent({ type: 'test.stale', created: t + 60 }))
    expect((globalThis as { pgStale?: boolean[] }).pgStale).toEqual([false, true, false])
  })

  it('the admin API lists, filters and counts the same way', async () => {
    const list = await adminGet<EventPage>(svc.url, '/admin/api/events?provider=stripe&limit=2')
    expect(list.status).toBe(200)
    expect(list.body.events).toHaveLength(2)
    const next = await adminGet<EventPage>(
      svc.url,
      `/admin/api/events?provider=stripe&limit=2&cursor=${list.body.nextCursor}`,
    )
    expect(next.body.events[0]?.eventId).not.toBe(list.body.events[1]?.eventId)
    // A rare status with provider and type (compared in a form no index serves: the status index is walked).
    const failed = await adminGet<EventPage>(
      svc.url,
      '/admin/api/events?status=failed&provider=stripe&type=test.slow',
    )
    expect(failed.body.events.length).toBeGreaterThanOrEqual(1)
    expect(failed.body.events.every((e) => e.status === 'failed' && e.type === 'test.slow')).toBe(true)
    const none = await adminGet<EventPage>(svc.url, '/admin/api/events?status=failed&provider=adyen')
    expect(none.body.events).toEqual([])
    const stats = await adminGet<Stats>(svc.url, '/admin/api/stats')
    expect(stats.body.events.stripe?.processed).toBeGreaterThanOrEqual(3)
    expect((await fetch(`${svc.url}/readyz`)).status).toBe(200)
  })

  it('retention prunes payloads on PostgreSQL too', async () => {
    const clockSvc = svc
    const event = stripeEvent()
    await postStripe(clockSvc.url, event)
    // Age the event by moving its arrival back in time, then prune.
    await schema.query(
      "UPDATE hookinbox_events SET received_at = now() - interval '50 days' WHERE event_id = $1",
      [event.id],
    )
    const result = await clockSvc.prune()
    expect(result.payloadsPruned).toBeGreaterThanOrEqual(1)
    expect((await row(event.id as string))?.payload).toBeNull()
    expect((await postStripe(clockSvc.url, event)).body).toMatchObject({ duplicate: true })
  })

  it('keeps deduplication across a restart', async () => {
    const event = stripeEvent()
    await postStripe(svc.url, event)
    svc = await svc.restart()
    expect((await postStripe(svc.url, event)).body).toMatchObject({ duplicate: true })
    expect(await effects(event.id as string)).toBe(1)
  })

  it('records every outcome whole: the row, one attempt log line per attempt, and status counts that match the rows', async () => {
    // Every way a status moves: new → failed, failed → parked, parked → parked (a replay that fails again),
    // parked → processed, and new → processed.
    const event = stripeEvent({ type: 'test.fail' })
    late.pgFail?.add(event.id as string)
    expect((await postStripe(svc.url, event)).status).toBe(500)
    expect((await postStripe(svc.url, event)).body).toMatchObject({ status: 'parked' })
    const replay = `/admin/api/events/stripe/${event.id}/replay`
    expect((await adminPost(svc.url, replay)).body).toMatchObject({ status: 'parked', attempts: 3 })
    late.pgFail?.delete(event.id as string)
    expect((await adminPost(svc.url, replay)).body).toMatchObject({ status: 'processed', attempts: 4 })
    expect(await row(event.id as string)).toMatchObject({
      status: 'processed',
      attempts: 4,
      last_error: null,
    })
    const log = await schema.query<{ outcome: string; trigger: string; error: string | null }>(
      `SELECT a.outcome, a.trigger, a.error FROM hookinbox_attempts a
         JOIN hookinbox_events e ON e.seq = a.event_seq WHERE e.event_id = $1 ORDER BY a.id`,
      [event.id],
    )
    expect(log.map((a) => [a.outcome, a.trigger])).toEqual([
      ['failed', 'delivery'],
      ['parked', 'delivery'],
      ['parked', 'replay'],
      ['processed', 'replay'],
    ])
    expect(log.slice(0, 3).every((a) => a.error?.includes('handler says no'))).toBe(true)
    expect(log[3]?.error).toBeNull()

    const fresh = stripeEvent()
    expect((await postStripe(svc.url, fresh)).body).toMatchObject({ status: 'processed' })
    expect(await row(fresh.id as string)).toMatchObject({ status: 'processed', attempts: 1 })

    const counted = await schema.query<{ provider: string; status: string; n: string }>(
      'SELECT provider, status, sum(n)::text AS n FROM hookinbox_status_counts GROUP BY 1, 2 HAVING sum(n) <> 0 ORDER BY 1, 2',
    )
    const actual = await schema.query<{ provider: string; status: string; n: string }>(
      'SELECT provider, status, count(*)::text AS n FROM hookinbox_events GROUP BY 1, 2 ORDER BY 1, 2',
    )
    expect(counted).toEqual(actual)
    // Retention deletes the attempt logs of the events whose payload it pruned.
    const attemptsDisagree = await schema.query(
      `SELECT e.event_id FROM hookinbox_events e WHERE e.payload IS NOT NULL
         AND e.attempts <> (SELECT count(*) FROM hookinbox_attempts a WHERE a.event_seq = e.seq)`,
    )
    expect(attemptsDisagree).toEqual([])
  })
})
