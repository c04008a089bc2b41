import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Stats } from '../../src/admin/event-history.ts'
import { notification, randomHexKey, sampleItem, signedItem } from '../providers/adyen-fixtures.ts'
import { adminGet } from '../support/admin-client.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { effectHandler, startTestService, type TestService } from '../support/test-service.ts'

describe('stats and metrics', () => {
  let svc: TestService
  beforeAll(async () => {
    svc = await startTestService({ handlers: { 'a.ts': effectHandler({ events: "['invoice.paid']" }) } })
  })
  afterAll(() => svc.dispose())

  const metric = async (pattern: RegExp) => {
    const text = await fetch(`${svc.url}/metrics`).then((r) => r.text())
    const m = pattern.exec(text)
    return m ? Number(m[1]) : 0
  }

  it('GET /admin/api/stats counts events by provider and status, and rejected deliveries', async () => {
    await Promise.all([
      postStripe(svc.url, stripeEvent({ type: 'invoice.paid' })),
      postStripe(svc.url, stripeEvent({ type: 'invoice.paid' })),
      postStripe(svc.url, stripeEvent({ type: 'other' })),
      postStripe(svc.url, stripeEvent(), { secret: 'whsec_forged' }),
      postStripe(svc.url, stripeEvent(), { signature: null }),
    ])
    // Rejections are folded into the next write (at most ~200 ms later).
    await new Promise((r) => setTimeout(r, 400))
    const { status, body } = await adminGet<Stats>(svc.url, '/admin/api/stats')
    expect(status).toBe(200)
    expect(body.events.stripe).toEqual({ processed: 2, ignored: 1 })
    expect(body.rejected.stripe).toEqual({ lastHour: 2, lastDay: 2 })
  })

  it('GET /metrics exposes deliveries, rejections, durations and event-loop lag, and they move', async () => {
    const before = await metric(
      /hookinbox_events_received_total\{provider="stripe",outcome="processed"\} (\d+)/,
    )
    await postStripe(svc.url, stripeEvent({ type: 'invoice.paid' }))
    const after = await metric(
      /hookinbox_events_received_total\{provider="stripe",outcome="processed"\} (\d+)/,
    )
    expect(after).toBe(before + 1)
    const text = await fetch(`${svc.url}/metrics`).then((r) => r.text())
    expect(text).toMatch(
      /hookinbox_deliveries_rejected_total\{provider="stripe",reason="bad_signature"\} \d+/,
    )
    expect(text).toMatch(/hookinbox_delivery_duration_seconds_bucket/)
    expect(text).toMatch(/hookinbox_events\{provider="stripe",status="processed"\} \d+/)
    expect(text).toMatch(/nodejs_eventloop_lag_seconds/)
  })

  it('a body over MAX_BODY_BYTES is a rejected delivery: counted, in the stats, and logged with its reason', async () => {
    const small = await startTestService({ env: { MAX_BODY_BYTES: '4096' } })
    try {
      const big = await postStripe(small.url, stripeEvent({ padding: 'x'.repeat(5000) }))
      expect(big.status).toBe(413)
      const text = await fetch(`${small.url}/metrics`).then((r) => r.text())
      expect(text).toMatch(
        /hookinbox_deliveries_rejected_total\{provider="stripe",reason="payload_too_large"\} 1\n/,
      )
      await new Promise((r) => setTimeout(r, 400))
      const stats = await adminGet<Stats>(small.url, '/admin/api/stats')
      expect(stats.body.rejected.stripe).toEqual({ lastHour: 1, lastDay: 1 })
      const lines = small.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'delivery rejected')
      expect(lines).toEqual([expect.objectContaining({ provider: 'stripe', reason: 'payload_too_large' })])
    } finally {
      await small.dispose()
    }
  })

  it('observes the duration once per delivery: an Adyen delivery of three items is one observation', async () => {
    const key = randomHexKey()
    const adyen = await startTestService({ env: { ADYEN_HMAC_KEY: key } })
    try {
      const items = [sampleItem(), sampleItem(), sampleItem()].map((item) => signedItem(item, key))
      const res = await fetch(`${adyen.url}/webhooks/adyen`, {
        method: 'POST',
        body: notification(items),
        headers: { 'content-type': 'application/json' },
      })
      expect(res.status).toBe(200)
      const text = await fetch(`${adyen.url}/metrics`).then((r) => r.text())
      expect(text).toMatch(/hookinbox_events_received_total\{provider="adyen",outcome="ignored"\} 3\n/)
      expect(text).toMatch(/hookinbox_delivery_duration_seconds_count\{provider="adyen"\} 1\n/)
    } finally {
      await adyen.dispose()
    }
  })

  it('METRICS_TOKEN protects /metrics', async () => {
    const guarded = await startTestService({ env: { METRICS_TOKEN: 'metrics-token-0123456789' } })
    try {
      expect((await fetch(`${guarded.url}/metrics`)).status).toBe(401)
      const ok = await fetch(`${guarded.url}/metrics`, {
        headers: { authorization: 'Bearer metrics-token-0123456789' },
      })
      expect(ok.status).toBe(200)
    } finally {
      await guarded.dispose()
    }
  })
})
