/**
 * STRIPE_TEST_EVENTS=skip: a live Stripe Connect endpoint also receives the test-mode events of accounts
 * connected in live mode, signed with its live secret. With `skip`, such an event (`livemode: false`) is
 * answered 200 `skipped` and neither recorded nor run; live events, and events without `livemode`, run as
 * before. By default (`run`) test-mode events run like any other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postStripe, stripeEvent, uniqueId } from '../support/stripe-signing.ts'
import { effectHandler, startTestService, type TestService } from '../support/test-service.ts'

const handlers = {
  'effect.ts': effectHandler({
    provider: 'stripe',
    events: "['checkout.session.completed', 'v1.checkout.session.completed']",
  }),
}

const effects = (svc: TestService, id: string) =>
  svc.query<{ n: number }>('SELECT count(*) AS n FROM test_effects WHERE event_id = ?', id)[0]?.n
const stored = (svc: TestService, id: string) =>
  svc.query<{ status: string }>('SELECT status FROM hookinbox_events WHERE event_id = ?', id)

/** A v2 "thin" event as sent to an event destination. */
const thinEvent = (livemode: boolean) => ({
  id: uniqueId('evt_test'),
  object: 'v2.core.event',
  type: 'v1.checkout.session.completed',
  created: new Date().toISOString(),
  livemode,
  related_object: { id: uniqueId('cs'), type: 'checkout.session', url: '/v1/checkout/sessions/cs_1' },
})

describe('STRIPE_TEST_EVENTS=skip', () => {
  let svc: TestService
  beforeAll(async () => {
    svc = await startTestService({ env: { STRIPE_TEST_EVENTS: 'skip' }, handlers })
  })
  afterAll(() => svc.dispose())

  it('answers a test-mode event 200 skipped, and neither records nor runs it, on every delivery', async () => {
    const event = stripeEvent({ livemode: false, account: 'acct_connected' })
    for (let delivery = 0; delivery < 2; delivery++) {
      const res = await postStripe(svc.url, event)
      expect(res.status).toBe(200)
      expect(res.body).toEqual({ received: true, duplicate: false, status: 'skipped' })
    }
    expect(effects(svc, event.id as string)).toBe(0)
    expect(stored(svc, event.id as string)).toEqual([])
    const lines = svc.logs
      .map(
        (line) => JSON.parse(line) as { msg?: string; eventId?: string; outcome?: string; reason?: string },
      )
      .filter((line) => line.msg === 'delivery' && line.eventId === event.id)
    expect(lines.map((line) => [line.outcome, line.reason])).toEqual([
      ['skipped', 'test_mode'],
      ['skipped', 'test_mode'],
    ])
  })

  it('skips a test-mode thin event too', async () => {
    const event = thinEvent(false)
    const res = await postStripe(svc.url, event)
    expect(res.body).toEqual({ received: true, duplicate: false, status: 'skipped' })
    expect(stored(svc, event.id)).toEqual([])
  })

  it('runs live events, and events that do not say (no livemode field)', async () => {
    const live = stripeEvent({ livemode: true })
    const unsaid = stripeEvent()
    const thin = thinEvent(true)
    for (const event of [live, unsaid, thin]) {
      const res = await postStripe(svc.url, event)
      expect(res.body).toEqual({ received: true, duplicate: false, status: 'processed' })
      expect(effects(svc, event.id as string)).toBe(1)
    }
  })

  it('runs an event whose livemode is not a boolean (it cannot be told apart)', async () => {
    for (const livemode of ['false', null, 0]) {
      const event = stripeEvent({ livemode })
      const res = await postStripe(svc.url, event)
      expect(res.body).toEqual({ received: true, duplicate: false, status: 'processed' })
    }
  })

  it('counts skipped events in the metrics', async () => {
    const skipped = async () => {
      const text = await (await fetch(`${svc.url}/metrics`)).text()
      const line = text
        .split('\n')
        .find((l) => l.startsWith('hookinbox_events_received_total{provider="stripe",outcome="skipped"}'))
      return Number(line?.split(' ').at(-1) ?? 0)
    }
    const before = await skipped()
    await postStripe(svc.url, stripeEvent({ livemode: false }))
    await postStripe(svc.url, stripeEvent({ livemode: false }))
    expect((await skipped()) - before).toBe(2)
  })

  it('says nothing about test-mode events running (they do not)', () => {
    expect(svc.logs.filter((line) => line.includes('test-mode events run here'))).toEqual([])
  })
})

describe('by default (STRIPE_TEST_EVENTS=run)', () => {
  let svc: TestService
  beforeAll(async () => {
    svc = await startTestService({ handlers })
  })
  afterAll(() => svc.dispose())

  it('a test-mode event is recorded and run like any other', async () => {
    const event = stripeEvent({ livemode: false })
    const res = await postStripe(svc.url, event)
    expect(res.body).toEqual({ received: true, duplicate: false, status: 'processed' })
    expect(effects(svc, event.id as string)).toBe(1)
    expect(stored(svc, event.id as string)).toEqual([{ status: 'processed' }])
  })

  it('warns once when test-mode events run beside live ones (a live Connect endpoint receives both)', async () => {
    const warnings = () =>
      svc.logs.filter((line) => line.includes('test-mode events run here beside live ones'))
    expect(warnings()).toHaveLength(0)
    await postStripe(svc.url, stripeEvent({ livemode: false }))
    await postStripe(svc.url, stripeEvent({ livemode: true }))
    expect(warnings()).toHaveLength(1)
    await postStripe(svc.url, stripeEvent({ livemode: false }))
    await postStripe(svc.url, stripeEvent({ livemode: true }))
    expect(warnings()).toHaveLength(1)
  })
})
