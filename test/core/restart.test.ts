import { describe, expect, it } from 'vitest'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { effectHandler, startTestService } from '../support/test-service.ts'

describe('restart', () => {
  it('keeps deduplication: an event processed before a restart is a duplicate after it', async () => {
    const first = await startTestService({ handlers: { 'effect.ts': effectHandler() } })
    const event = stripeEvent()
    expect((await postStripe(first.url, event)).body).toMatchObject({ duplicate: false, status: 'processed' })
    const second = await first.restart()
    try {
      const again = await postStripe(second.url, event)
      expect(again.body).toEqual({ received: true, duplicate: true, status: 'processed' })
      const [row] = second.query<{ n: number }>(
        'SELECT count(*) AS n FROM test_effects WHERE event_id = ?',
        event.id,
      )
      expect(row?.n).toBe(1)
    } finally {
      await second.dispose()
    }
  })
})
