import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Stats } from '../../src/admin/event-history.ts'
import { adminGet, adminPost } from '../support/admin-client.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { effectHandler, startTestService, type TestService } from '../support/test-service.ts'

const DAY = 86_400_000
const failing = globalThis as { retentionFail?: Set<string> }

describe('retention', () => {
  let svc: TestService
  let clock = Date.now() - 500 * DAY
  const at = () => Math.floor(clock / 1000)
  const effects = (id: string) =>
    svc.query<{ n: number }>('SELECT count(*) AS n FROM test_effects WHERE event_id = ?', id)[0]?.n

  beforeAll(async () => {
    failing.retentionFail = new Set()
    svc = await startTestService({
      now: () => new Date(clock),
      env: { RETENTION_DAYS: '45', DEDUP_KEEP_DAYS: '400', MAX_ATTEMPTS: '1' },
      handlers: {
        'effect.ts': effectHandler({
          extra: "if (globalThis.retentionFail.has(event.id)) throw new Error('x')",
        }),
      },
    })
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
})
