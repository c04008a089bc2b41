import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { effectHandler, startTestService, type TestService } from '../support/test-service.ts'

describe('exactly once under concurrency', () => {
  let svc: TestService
  beforeAll(async () => {
    svc = await startTestService({
      handlers: {
        // Awaits between its write and the end, so concurrent deliveries overlap inside the handler.
        'slow-effect.ts': effectHandler({ extra: 'await new Promise((r) => setTimeout(r, 5))' }),
      },
    })
  })
  afterAll(() => svc.dispose())

  it('50 concurrent deliveries of one new event: all 200, exactly one effect', async () => {
    const event = stripeEvent()
    const results = await Promise.all(Array.from({ length: 50 }, () => postStripe(svc.url, event)))
    expect(results.map((r) => r.status)).toEqual(Array(50).fill(200))
    expect(results.filter((r) => (r.body as { duplicate: boolean }).duplicate === false)).toHaveLength(1)
    const [row] = svc.query<{ n: number }>(
      'SELECT count(*) AS n FROM test_effects WHERE event_id = ?',
      event.id,
    )
    expect(row?.n).toBe(1)
  })

  it('200 concurrent deliveries of 40 distinct events (5 copies each): one effect per event', async () => {
    const events = Array.from({ length: 40 }, () => stripeEvent())
    const deliveries = events.flatMap((e) => Array.from({ length: 5 }, () => e))
    deliveries.sort(() => Math.random() - 0.5)
    const results = await Promise.all(deliveries.map((e) => postStripe(svc.url, e)))
    expect(results.every((r) => r.status === 200)).toBe(true)
    const rows = svc.query<{ event_id: string; n: number }>(
      `SELECT event_id, count(*) AS n FROM test_effects WHERE event_id IN (${events.map(() => '?').join(',')}) GROUP BY event_id`,
      ...events.map((e) => e.id),
    )
    expect(rows).toHaveLength(40)
    expect(rows.every((r) => r.n === 1)).toBe(true)
    const duplicates = svc.query<{ d: number }>(
      `SELECT sum(duplicates) AS d FROM hookinbox_events WHERE event_id IN (${events.map(() => '?').join(',')})`,
      ...events.map((e) => e.id),
    )
    // Duplicate sightings are folded in asynchronously; they never exceed the copies sent.
    expect(duplicates[0]?.d ?? 0).toBeLessThanOrEqual(160)
  })
})
