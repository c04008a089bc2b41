import Database from 'better-sqlite3'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { Stats } from '../../src/admin/event-history.ts'
import { adminGet, adminPost } from '../support/admin-client.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { effectHandler, startTestService, type TestService } from '../support/test-service.ts'

const DAY = 86_400_000
const failing = globalThis as { retentionFail?: Set<string> }

/**
 * A service on the clock `now()` gives, keeping payloads 45 days and ids 400, whose effect handler fails (once,
 * so the event parks) for the ids in `failing.retentionFail`.
 */
function startRetentionService(now: () => number): Promise<TestService> {
  failing.retentionFail = new Set()
  return startTestService({
    now: () => new Date(now()),
    env: { RETENTION_DAYS: '45', DEDUP_KEEP_DAYS: '400', MAX_ATTEMPTS: '1' },
    handlers: {
      'effect.ts': effectHandler({
        extra: "if (globalThis.retentionFail.has(event.id)) throw new Error('x')",
      }),
    },
  })
}

describe('retention', () => {
  let svc: TestService
  let clock = Date.now() - 500 * DAY
  const at = () => Math.floor(clock / 1000)
  const effects = (id: string) =>
    svc.query<{ n: number }>('SELECT count(*) AS n FROM test_effects WHERE event_id = ?', id)[0]?.n

  beforeAll(async () => {
    svc = await startRetentionService(() => clock)
  })
  afterAll(() => svc.dispose())

  it('prunes payloads and attempt logs after RETENTION_DAYS, keeps ids so late retries are duplicates, deletes after DEDUP_KEEP_DAYS', async () => {
    const old = stripeEvent()
    const parked = stripeEvent()
    failing.retentionFail?.add(parked.id as string)
    expect((await postStripe(svc.url, old, { timestamp: at() })).status).toBe(200)
    expect((await postStripe(svc.url, parked, { timestamp: at() })).body).toMatchObject({ status: 'parked' })
    failing.retentionFail?.delete(parked.id as string)

    clock += 50 * DAY
    const recent = stripeEvent()
    await postStripe(svc.url, recent, { timestamp: at() })
    const first = await svc.prune()
    expect(first).toEqual({ payloadsPruned: 1, eventsDeleted: 0 })

    const detail = await adminGet<{ payload: unknown; attemptLog: unknown[]; status: string }>(
      svc.url,
      `/admin/api/events/stripe/${old.id}`,
    )
    expect(detail.body).toMatchObject({ status: 'processed', payload: null, attemptLog: [] })
    // The parked event keeps its payload for a replay; the recent one is untouched.
    const kept = await adminGet<{ payload: unknown }>(svc.url, `/admin/api/events/stripe/${parked.id}`)
    expect(kept.body.payload).toEqual(parked)
    expect(
      (await adminGet<{ payload: unknown }>(svc.url, `/admin/api/events/stripe/${recent.id}`)).body.payload,
    ).toEqual(recent)

    // A very late retry of the pruned event is still a duplicate: no second effect.
    const late = await postStripe(svc.url, old, { timestamp: at() })
    expect(late.body).toEqual({ received: true, duplicate: true, status: 'processed' })
    expect(effects(old.id as string)).toBe(1)

    // Past DEDUP_KEEP_DAYS the bare record goes too.
    clock += 360 * DAY
    const second = await svc.prune()
    expect(second.eventsDeleted).toBe(2)
    expect(
      svc.query('SELECT event_id FROM hookinbox_events WHERE event_id IN (?, ?)', old.id, parked.id),
    ).toEqual([])
    // With its record gone, the event counts as new again, although its late retry above was a duplicate
    // answered (and kept) in memory: the pruning forgot it there too.
    const afterDeletion = await postStripe(svc.url, old, { timestamp: at() })
    expect(afterDeletion.body).toEqual({ received: true, duplicate: false, status: 'processed' })
    expect(effects(old.id as string)).toBe(2)
    expect((await adminPost(svc.url, `/admin/api/events/stripe/${parked.id}/replay`)).status).toBe(404)
    // The status counts (admin stats, /metrics) follow the deletions (and that new delivery) without a scan.
    const stats = await adminGet<Stats>(svc.url, '/admin/api/stats')
    expect(stats.body.events).toEqual({ stripe: { processed: 2 } })
    // A second pass has nothing left to do.
    expect(await svc.prune()).toEqual({ payloadsPruned: 0, eventsDeleted: 0 })
  })

  it('forgets a PayPal transmission’s binding a day after DEDUP_KEEP_DAYS, once it would be refused as too old', async () => {
    // Bindings as PayPal deliveries leave them (PayPal is not configured here), written beside the service.
    const file = new Database(svc.dbPath)
    const bind = file.prepare(
      'INSERT INTO hookinbox_transmissions (provider, transmission_id, body_sha256, received_at) VALUES (?, ?, ?, ?)',
    )
    bind.run('paypal', 'tid-old', 'a'.repeat(64), clock - 402 * DAY)
    bind.run('paypal', 'tid-edge', 'b'.repeat(64), clock - 400.5 * DAY)
    bind.run('paypal', 'tid-recent', 'c'.repeat(64), clock - DAY)
    file.close()
    await svc.prune()
    const left = svc.query<{ transmission_id: string }>(
      'SELECT transmission_id FROM hookinbox_transmissions ORDER BY transmission_id',
    )
    expect(left.map((r) => r.transmission_id)).toEqual(['tid-edge', 'tid-recent'])
  })
})

// A host clock set back for a while (a VM snapshot restored, an RTC reset before NTP, one PostgreSQL instance
// with a bad clock) stamps an event long before events that arrived earlier: the arrival sequence and
// received_at disagree, and an event must still be pruned and deleted only once it is itself old.
describe('retention and an event stamped with a wrong (past) clock', () => {
  let svc: TestService
  const today = Date.now()
  let clock = today
  const at = () => Math.floor(clock / 1000)
  const effects = (id: unknown) =>
    svc.query<{ n: number }>('SELECT count(*) AS n FROM test_effects WHERE event_id = ?', id)[0]?.n
  const stored = (id: unknown) =>
    svc.query<{ payload: string | null }>('SELECT payload FROM hookinbox_events WHERE event_id = ?', id)[0]
  const receive = async (event: Record<string, unknown>, when: number) => {
    clock = when
    expect((await postStripe(svc.url, event, { timestamp: at() })).body).toMatchObject({
      status: 'processed',
    })
  }
  const pruneAt = (when: number) => {
    clock = when
    return svc.prune()
  }

  beforeEach(async () => {
    clock = today
    svc = await startTestService({
      now: () => new Date(clock),
      env: { RETENTION_DAYS: '45', DEDUP_KEEP_DAYS: '400' },
      handlers: { 'effect.ts': effectHandler() },
    })
  })
  afterEach(() => svc.dispose())

  it('a retry of an event received yesterday stays a duplicate', async () => {
    const recent = stripeEvent()
    await receive(recent, today)
    await receive(stripeEvent(), today - 2 * 365 * DAY)
    // NTP has fixed the clock; the hourly pass deletes the event stamped two years back, and only that one.
    const result = await pruneAt(today + DAY)
    const retry = await postStripe(svc.url, recent, { timestamp: at() })
    expect(retry.body).toMatchObject({ duplicate: true })
    expect(effects(recent.id)).toBe(1)
    expect(result).toEqual({ payloadsPruned: 0, eventsDeleted: 1 })
  })

  it('a recent payload is kept although an event stamped 100 days back arrived after it', async () => {
    const recent = stripeEvent()
    const stamped = stripeEvent()
    await receive(recent, today)
    await receive(stamped, today - 100 * DAY)
    const result = await pruneAt(today + DAY)
    expect(JSON.parse(stored(recent.id)?.payload as string)).toEqual(recent)
    expect(stored(stamped.id)?.payload).toBeNull()
    expect(result).toEqual({ payloadsPruned: 1, eventsDeleted: 0 })
  })

  it('the events passed over are pruned and deleted by a later pass, once they are themselves old', async () => {
    const first = stripeEvent()
    const yearsBack = stripeEvent()
    const monthsBack = stripeEvent()
    const last = stripeEvent()
    await receive(first, today)
    await receive(yearsBack, today - 2 * 365 * DAY)
    await receive(monthsBack, today - 100 * DAY)
    await receive(last, today + 60_000)

    expect(await pruneAt(today + DAY)).toEqual({ payloadsPruned: 1, eventsDeleted: 1 })
    expect(stored(yearsBack.id)).toBeUndefined()
    expect(stored(monthsBack.id)?.payload).toBeNull()
    expect(stored(first.id)?.payload).not.toBeNull()
    expect(stored(last.id)?.payload).not.toBeNull()

    // Past RETENTION_DAYS: `first` sits below where the payload pass has got to, and is pruned all the same.
    expect(await pruneAt(today + 46 * DAY)).toEqual({ payloadsPruned: 2, eventsDeleted: 0 })
    expect(stored(first.id)?.payload).toBeNull()
    expect(stored(last.id)?.payload).toBeNull()
    expect((await postStripe(svc.url, first, { timestamp: at() })).body).toMatchObject({ duplicate: true })

    // Past DEDUP_KEEP_DAYS every one of them is gone, and the counts follow.
    expect(await pruneAt(today + 401 * DAY)).toEqual({ payloadsPruned: 0, eventsDeleted: 3 })
    expect(svc.query('SELECT event_id FROM hookinbox_events')).toEqual([])
    expect((await adminGet<Stats>(svc.url, '/admin/api/stats')).body.events).toEqual({})
    expect(await svc.prune()).toEqual({ payloadsPruned: 0, eventsDeleted: 0 })
  })
})

// An operator may replay a parked event long after it arrived: from then on it is an old processed event like
// any other, and its payload and attempt log go at the next pass.
describe('retention and an old event replayed', () => {
  let svc: TestService
  let clock = Date.now()
  const stored = (id: unknown) =>
    svc.query<{ payload: string | null; attempts: number }>(
      'SELECT payload, (SELECT count(*) FROM hookinbox_attempts a WHERE a.event_seq = e.seq) AS attempts FROM hookinbox_events e WHERE event_id = ?',
      id,
    )[0]

  beforeAll(async () => {
    svc = await startRetentionService(() => clock)
  })
  afterAll(() => svc.dispose())

  it('a parked event replayed after RETENTION_DAYS has its payload and attempt log pruned by the next pass', async () => {
    const parked = stripeEvent()
    failing.retentionFail?.add(parked.id as string)
    const sent = await postStripe(svc.url, parked, { timestamp: Math.floor(clock / 1000) })
    expect(sent.body).toMatchObject({ status: 'parked' })
    failing.retentionFail?.delete(parked.id as string)

    // Fifty days on, the hourly pass goes over it: parked, so its payload is kept for a replay.
    clock += 50 * DAY
    expect(await svc.prune()).toEqual({ payloadsPruned: 0, eventsDeleted: 0 })
    expect(stored(parked.id)?.payload).not.toBeNull()

    // The handler is fixed and the event replayed: now it is an old processed event.
    const replayed = await adminPost(svc.url, `/admin/api/events/stripe/${parked.id}/replay`)
    expect(replayed.body).toMatchObject({ status: 'processed' })
    clock += 3_600_000
    expect(await svc.prune()).toEqual({ payloadsPruned: 1, eventsDeleted: 0 })
    expect(stored(parked.id)).toEqual({ payload: null, attempts: 0 })
  })
})
