import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postStripe, STRIPE_SECRET, stripeEvent, stripeSignature } from '../support/stripe-signing.ts'
import { effectHandler, startTestService, type TestService } from '../support/test-service.ts'

describe('a Stripe delivery, signed with the stripe package, over real HTTP', () => {
  let svc: TestService
  const effects = (id: string) =>
    svc.query<{ n: number }>('SELECT count(*) AS n FROM test_effects WHERE event_id = ?', id)[0]?.n
  const recorded = (id: string) =>
    svc.query('SELECT * FROM hookinbox_events WHERE provider = ? AND event_id = ?', 'stripe', id)

  beforeAll(async () => {
    svc = await startTestService({
      env: { STRIPE_WEBHOOK_SECRET: `${STRIPE_SECRET}, whsec_rotated_second_secret`, MAX_BODY_BYTES: '4096' },
      handlers: {
        'effect.ts': effectHandler({
          provider: 'stripe',
          events: "['checkout.session.completed', 'v1.checkout.session.completed']",
        }),
      },
    })
  })
  afterAll(() => svc.dispose())

  it('is processed once: 200, one handler effect, status processed', async () => {
    const event = stripeEvent()
    const res = await postStripe(svc.url, event)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ received: true, duplicate: false, status: 'processed' })
    expect(effects(event.id as string)).toBe(1)
    expect(recorded(event.id as string)[0]).toMatchObject({
      status: 'processed',
      attempts: 1,
      type: event.type,
    })
  })

  it('answers a re-delivery with a fresh signature as a duplicate and runs nothing again', async () => {
    const event = stripeEvent()
    await postStripe(svc.url, event)
    const again = await postStripe(svc.url, event, { timestamp: Math.floor(Date.now() / 1000) - 5 })
    expect(again.status).toBe(200)
    expect(again.body).toEqual({ received: true, duplicate: true, status: 'processed' })
    expect(effects(event.id as string)).toBe(1)
  })

  it("records the event's own time: `created` in seconds, or a thin event's ISO date-time", async () => {
    const snapshot = stripeEvent({ created: 1_700_000_000 })
    await postStripe(svc.url, snapshot)
    expect(recorded(snapshot.id as string)[0]).toMatchObject({ occurred_at: 1_700_000_000_000 })

    // As Stripe sends v2 events to an event destination: no snapshot of the object, a reference to it.
    const thin = {
      id: `evt_test_thin_${Date.now()}`,
      object: 'v2.core.event',
      type: 'v1.billing.meter.error_report_triggered',
      livemode: false,
      created: '2024-09-17T06:20:52.246Z',
      related_object: { id: 'mtr_test_1', type: 'billing.meter', url: '/v1/billing/meters/mtr_test_1' },
    }
    const res = await postStripe(svc.url, thin)
    expect(res.body).toEqual({ received: true, duplicate: false, status: 'ignored' })
    expect(recorded(thin.id)[0]).toMatchObject({
      type: thin.type,
      occurred_at: Date.parse('2024-09-17T06:20:52.246Z'),
    })
  })

  it('runs the handlers subscribed to a thin event by its own type', async () => {
    const thin = {
      id: `evt_test_thin_cs_${Date.now()}`,
      object: 'v2.core.event',
      type: 'v1.checkout.session.completed',
      livemode: false,
      created: new Date().toISOString(),
      related_object: { id: 'cs_test_1', type: 'checkout.session', url: '/v1/checkout/sessions/cs_test_1' },
    }
    const res = await postStripe(svc.url, thin)
    expect(res.body).toEqual({ received: true, duplicate: false, status: 'processed' })
    expect(effects(thin.id)).toBe(1)
  })

  it('records an event no handler subscribes to as ignored', async () => {
    const event = stripeEvent({ type: 'customer.created' })
    const res = await postStripe(svc.url, event)
    expect(res.body).toEqual({ received: true, duplicate: false, status: 'ignored' })
    expect(effects(event.id as string)).toBe(0)
    expect(recorded(event.id as string)[0]).toMatchObject({ status: 'ignored' })
  })

  it('accepts a signature made with any of the rotated secrets', async () => {
    const event = stripeEvent()
    const res = await postStripe(svc.url, event, { secret: 'whsec_rotated_second_secret' })
    expect(res.status).toBe(200)
    expect(effects(event.id as string)).toBe(1)
  })

  it('accepts a header carrying one v1 per secret during a roll', async () => {
    const event = stripeEvent()
    const body = JSON.stringify(event)
    const t = Math.floor(Date.now() / 1000)
    const a = stripeSignature(body, 'whsec_some_retired_secret', t)
    const b = stripeSignature(body, STRIPE_SECRET, t)
    const header = `${a},${b.split(',')[1]}`
    const res = await postStripe(svc.url, body, { signature: header })
    expect(res.status).toBe(200)
  })

  const rejected: Array<[string, (body: string) => { body: string; signature: string | null }, RegExp]> = [
    [
      'a wrong secret',
      (b) => ({ body: b, signature: stripeSignature(b, 'whsec_wrong') }),
      /no signature matches/,
    ],
    [
      'a tampered body',
      (b) => ({ body: b.replace('"paid"', '"unpaid"'), signature: stripeSignature(b) }),
      /no signature matches/,
    ],
    ['no Stripe-Signature header', (b) => ({ body: b, signature: null }), /missing Stripe-Signature/],
    [
      'a timestamp older than the tolerance',
      (b) => ({ body: b, signature: stripeSignature(b, STRIPE_SECRET, Math.floor(Date.now() / 1000) - 301) }),
      /tolerance/,
    ],
    ['a malformed header', (b) => ({ body: b, signature: 'garbage' }), /timestamp/],
    [
      'the right signature offered only as v0',
      (b) => ({ body: b, signature: stripeSignature(b).replace('v1=', 'v0=') }),
      /no v1 signature/,
    ],
  ]
  for (const [name, make, message] of rejected) {
    it(`rejects ${name} with 400 and records nothing`, async () => {
      const event = stripeEvent()
      const { body, signature } = make(JSON.stringify(event))
      const res = await postStripe(svc.url, body, { signature })
      expect(res.status).toBe(400)
      expect((res.body as { error: string }).error).toMatch(message)
      expect(res.text).not.toContain(STRIPE_SECRET)
      expect(recorded(event.id as string)).toHaveLength(0)
      expect(effects(event.id as string)).toBe(0)
    })
  }

  it('says how old a stale signature was, in the answer and the warning, so a clock ahead shows as such', async () => {
    const event = stripeEvent()
    const body = JSON.stringify(event)
    const res = await postStripe(svc.url, body, {
      signature: stripeSignature(body, STRIPE_SECRET, Math.floor(Date.now() / 1000) - 1000),
    })
    expect(res.status).toBe(400)
    const message = (res.body as { error: string }).error
    expect(message).toMatch(
      /^timestamp outside the tolerance zone: signed 10\d\d s before it arrived, more than 300 s$/,
    )
    const warning = svc.logs
      .map((line) => JSON.parse(line) as { msg?: string; reason?: string; message?: string })
      .find((line) => line.msg === 'delivery rejected' && line.message === message)
    expect(warning?.reason).toBe('stale_timestamp')
  })

  it('rejects a validly signed body that is not JSON with 400', async () => {
    const res = await postStripe(svc.url, 'this is not json')
    expect(res.status).toBe(400)
    expect(res.body).toEqual({ error: 'the verified body is not valid JSON' })
  })

  it('rejects validly signed JSON without id or type with 400', async () => {
    expect((await postStripe(svc.url, { object: 'event', type: 'x' })).status).toBe(400)
    expect((await postStripe(svc.url, { id: 'evt_no_type', object: 'event' })).status).toBe(400)
    expect((await postStripe(svc.url, '[1,2,3]')).status).toBe(400)
  })

  it('answers 413 for a body over MAX_BODY_BYTES, with Content-Length or chunked', async () => {
    const big = JSON.stringify(stripeEvent({ padding: 'x'.repeat(5000) }))
    const res = await postStripe(svc.url, big)
    expect(res.status).toBe(413)
    expect((res.body as { error: string }).error).toMatch(/exceeds 4096 bytes/)

    const chunks = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(big))
        controller.close()
      },
    })
    const chunked = await fetch(`${svc.url}/webhooks/stripe`, {
      method: 'POST',
      body: chunks,
      headers: { 'stripe-signature': stripeSignature(big) },
      duplex: 'half',
    } as RequestInit)
    expect(chunked.status).toBe(413)
  })

  it('answers 404 for unknown and unconfigured providers', async () => {
    const unknown = await fetch(`${svc.url}/webhooks/square`, { method: 'POST', body: '{}' })
    expect(unknown.status).toBe(404)
    const paypal = await fetch(`${svc.url}/webhooks/paypal`, { method: 'POST', body: '{}' })
    expect(paypal.status).toBe(404)
    expect(await paypal.json()).toEqual({ error: 'paypal is not configured' })
  })

  it('logs one line per delivery with provider, event id, type, outcome and duration, and no secret', async () => {
    const event = stripeEvent()
    await postStripe(svc.url, event)
    const line = svc.logs
      .map((l) => JSON.parse(l))
      .find((l) => l.eventId === event.id && l.msg === 'delivery')
    expect(line).toMatchObject({ provider: 'stripe', type: event.type, outcome: 'processed' })
    expect(typeof line.durationMs).toBe('number')
    expect(svc.logs.join('\n')).not.toContain(STRIPE_SECRET)
  })
})
