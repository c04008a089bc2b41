/**
 * PayPal and Adyen deliveries through the whole service over real HTTP: signed exactly as each provider
 * signs (a throwaway PayPal PKI served from a loopback HTTPS host; Adyen items signed with Adyen's own
 * library), recorded once, handlers run once, the providers' own answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { effectHandler, startTestService, type TestService } from '../support/test-service.ts'
import { notification, randomHexKey, sampleItem, signedItem } from './adyen-fixtures.ts'
import {
  type CountingServer,
  pki,
  sampleEvent,
  servePem,
  signedDelivery,
  startCertHost,
  WEBHOOK_ID,
} from './paypal-fixtures.ts'

const ADYEN_KEY = randomHexKey()
const ADYEN_AUTH = 'adyen-user:adyen-password-123'
/** The credentials Adyen sent before a password change, still accepted while it switches. */
const ADYEN_PREVIOUS_AUTH = 'adyen-user:old-password-456'
const failing = globalThis as { failingItems?: Set<string> }

async function post(url: string, body: string | Uint8Array, headers: Headers | Record<string, string>) {
  const res = await fetch(url, {
    method: 'POST',
    body: typeof body === 'string' ? body : Buffer.from(body),
    headers,
  })
  const text = await res.text()
  return { status: res.status, text }
}

describe('PayPal and Adyen through the full pipeline', () => {
  let svc: TestService
  let certHost: CountingServer
  const effects = (id: string) =>
    svc.query<{ n: number }>('SELECT count(*) AS n FROM test_effects WHERE event_id = ?', id)[0]?.n
  const adyenHeaders = {
    'content-type': 'application/json',
    authorization: `Basic ${Buffer.from(ADYEN_AUTH).toString('base64')}`,
  }

  beforeAll(async () => {
    failing.failingItems = new Set()
    certHost = await startCertHost(servePem(pki.signingCert))
    svc = await startTestService({
      env: {
        PAYPAL_WEBHOOK_ID: WEBHOOK_ID,
        PAYPAL_CERT_HOSTS: certHost.host,
        ADYEN_HMAC_KEY: ADYEN_KEY,
        ADYEN_BASIC_AUTH: ADYEN_AUTH,
        ADYEN_BASIC_AUTH_PREVIOUS: ADYEN_PREVIOUS_AUTH,
      },
      paypal: { ca: pki.ca },
      handlers: {
        'effect.ts': effectHandler({
          extra: "if (globalThis.failingItems.has(event.id)) throw new Error('item handler failed')",
        }),
      },
    })
  })
  afterAll(async () => {
    await svc.dispose()
    await certHost.close()
  })

  const paypal = (id: string) => {
    const d = signedDelivery({ body: sampleEvent(id), certUrl: certHost.url() })
    return post(`${svc.url}/webhooks/paypal`, d.body, d.headers)
  }

  it('a PayPal delivery signed with the PayPal certificate is processed once; the certificate is fetched once', async () => {
    const id = `WH-${Date.now()}-A`
    const first = await paypal(id)
    expect(first.status).toBe(200)
    expect(JSON.parse(first.text)).toEqual({ received: true, duplicate: false, status: 'processed' })
    const again = await paypal(id)
    expect(JSON.parse(again.text)).toEqual({ received: true, duplicate: true, status: 'processed' })
    expect(effects(id)).toBe(1)
    expect(certHost.requests).toHaveLength(1)
  })

  it('50 concurrent PayPal deliveries of one event give one effect', async () => {
    const id = `WH-${Date.now()}-B`
    const results = await Promise.all(Array.from({ length: 50 }, () => paypal(id)))
    expect(results.every((r) => r.status === 200)).toBe(true)
    expect(effects(id)).toBe(1)
  })

  it('a forged PayPal delivery (other key, tampered body, SHA1withRSA) is 400 and records nothing', async () => {
    const id = `WH-${Date.now()}-C`
    const forged = signedDelivery({
      body: sampleEvent(id),
      certUrl: certHost.url(),
      key: pki.wrongSubjectKey,
    })
    expect((await post(`${svc.url}/webhooks/paypal`, forged.body, forged.headers)).status).toBe(400)
    const good = signedDelivery({ body: sampleEvent(id), certUrl: certHost.url() })
    const tampered = new TextEncoder().encode(sampleEvent(id).replace('7.47', '0.01'))
    expect((await post(`${svc.url}/webhooks/paypal`, tampered, good.headers)).status).toBe(400)
    const sha1 = signedDelivery({ body: sampleEvent(id), certUrl: certHost.url(), authAlgo: 'SHA1withRSA' })
    expect((await post(`${svc.url}/webhooks/paypal`, sha1.body, sha1.headers)).status).toBe(400)
    expect(svc.query('SELECT 1 FROM hookinbox_events WHERE event_id = ?', id)).toHaveLength(0)
  })

  it('a certificate URL off the allow-list is 400 with no connection made', async () => {
    const before = certHost.connections
    const d = signedDelivery({
      body: sampleEvent(`WH-${Date.now()}-D`),
      certUrl: 'https://evil.example/v1/notifications/certs/x',
    })
    expect((await post(`${svc.url}/webhooks/paypal`, d.body, d.headers)).status).toBe(400)
    expect(certHost.connections).toBe(before)
  })

  it('after a restart the certificate comes from the database, not the network', async () => {
    // Certificates are stored with the next write transaction; give it one.
    await paypal(`WH-${Date.now()}-E`)
    await new Promise((r) => setTimeout(r, 300))
    const stored = svc.query('SELECT url FROM hookinbox_paypal_certs')
    expect(stored).toEqual([{ url: certHost.url() }])
    const requestsBefore = certHost.requests.length
    svc = await svc.restart()
    // restart() keeps the test options, including the PayPal CA.
    const res = await paypal(`WH-${Date.now()}-F`)
    expect(res.status).toBe(200)
    expect(certHost.requests.length).toBe(requestsBefore)
  })

  it('an Adyen notification with several items: each item is its own event, answered [accepted]', async () => {
    const items = [sampleItem(), sampleItem({ eventCode: 'CAPTURE' }), sampleItem({ eventCode: 'REFUND' })]
    const body = notification(items.map((i) => signedItem(i, ADYEN_KEY)))
    const res = await post(`${svc.url}/webhooks/adyen`, body, adyenHeaders)
    expect(res).toEqual({ status: 200, text: '[accepted]' })
    for (const i of items) {
      const id = `${i.merchantAccountCode}:${i.pspReference}:${i.eventCode}:${i.success}:`
      expect(effects(id)).toBe(1)
    }
    // Adyen resends the whole message: every item is a duplicate, still [accepted].
    expect(await post(`${svc.url}/webhooks/adyen`, body, adyenHeaders)).toEqual({
      status: 200,
      text: '[accepted]',
    })
    const concurrent = await Promise.all(
      Array.from({ length: 20 }, () => post(`${svc.url}/webhooks/adyen`, body, adyenHeaders)),
    )
    expect(concurrent.every((r) => r.status === 200)).toBe(true)
    const total = svc.query<{ n: number }>(
      "SELECT count(*) AS n FROM test_effects WHERE event_id LIKE 'TestMerchant:%' AND event_id IN (SELECT event_id FROM hookinbox_events WHERE provider = 'adyen')",
    )[0]?.n
    expect(total).toBeGreaterThanOrEqual(3)
    for (const i of items)
      expect(effects(`${i.merchantAccountCode}:${i.pspReference}:${i.eventCode}:${i.success}:`)).toBe(1)
  })

  it('a success=false AUTHORISATION does not swallow the later success=true one', async () => {
    const psp = `8815${Date.now()}`
    const failed = sampleItem({ pspReference: psp, success: 'false' })
    const ok = sampleItem({ pspReference: psp, success: 'true' })
    await post(`${svc.url}/webhooks/adyen`, notification([signedItem(failed, ADYEN_KEY)]), adyenHeaders)
    await post(`${svc.url}/webhooks/adyen`, notification([signedItem(ok, ADYEN_KEY)]), adyenHeaders)
    expect(effects(`TestMerchant:${psp}:AUTHORISATION:false:`)).toBe(1)
    expect(effects(`TestMerchant:${psp}:AUTHORISATION:true:`)).toBe(1)
  })

  it('an Adyen batch with one badly signed item is 400 and records nothing', async () => {
    const items = [sampleItem(), sampleItem(), sampleItem()]
    const signed = items.map((i) => signedItem(i, ADYEN_KEY))
    const bad = signedItem(items[1] as Record<string, unknown>, randomHexKey())
    const body = notification([signed[0], bad, signed[2]] as Array<Record<string, unknown>>)
    const res = await post(`${svc.url}/webhooks/adyen`, body, adyenHeaders)
    expect(res.status).toBe(400)
    for (const i of items) {
      expect(
        svc.query('SELECT 1 FROM hookinbox_events WHERE event_id LIKE ?', `%:${i.pspReference}:%`),
      ).toHaveLength(0)
    }
  })

  it('an Adyen batch where one item’s handler fails: 500, the others are done, and the resend finishes it', async () => {
    const items = [sampleItem(), sampleItem(), sampleItem()]
    const ids = items.map((i) => `${i.merchantAccountCode}:${i.pspReference}:${i.eventCode}:${i.success}:`)
    failing.failingItems?.add(ids[1] as string)
    const body = notification(items.map((i) => signedItem(i, ADYEN_KEY)))
    const first = await post(`${svc.url}/webhooks/adyen`, body, adyenHeaders)
    expect(first.status).toBe(500)
    expect(ids.map((id) => effects(id))).toEqual([1, 0, 1])
    failing.failingItems?.delete(ids[1] as string)
    expect(await post(`${svc.url}/webhooks/adyen`, body, adyenHeaders)).toEqual({
      status: 200,
      text: '[accepted]',
    })
    expect(ids.map((id) => effects(id))).toEqual([1, 1, 1])
  })

  it('Adyen Basic auth: missing or wrong credentials are 401 before anything else', async () => {
    const body = notification([signedItem(sampleItem(), ADYEN_KEY)])
    const none = await post(`${svc.url}/webhooks/adyen`, body, { 'content-type': 'application/json' })
    expect(none.status).toBe(401)
    const wrong = await post(`${svc.url}/webhooks/adyen`, body, {
      authorization: `Basic ${Buffer.from('adyen-user:nope').toString('base64')}`,
    })
    expect(wrong.status).toBe(401)
    expect(wrong.text).not.toContain('adyen-password-123')
  })

  it('Adyen Basic auth during a password change: the previous credentials work too, and their deliveries say so in the log', async () => {
    const item = sampleItem({ pspReference: 'PREVIOUSAUTH0001' })
    const body = notification([signedItem(item, ADYEN_KEY)])
    const previous = await post(`${svc.url}/webhooks/adyen`, body, {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(ADYEN_PREVIOUS_AUTH).toString('base64')}`,
    })
    expect(previous).toEqual({ status: 200, text: '[accepted]' })
    const again = await post(`${svc.url}/webhooks/adyen`, body, adyenHeaders)
    expect(again).toEqual({ status: 200, text: '[accepted]' })
    const lines = svc.logs
      .map(
        (line) =>
          JSON.parse(line) as { msg?: string; eventId?: string; basicAuth?: string; outcome?: string },
      )
      .filter((line) => line.msg === 'delivery' && line.eventId?.includes('PREVIOUSAUTH0001'))
    expect(lines.map((line) => [line.outcome, line.basicAuth])).toEqual([
      ['processed', 'previous'],
      ['duplicate', undefined],
    ])
    const warnings = svc.logs.filter((line) =>
      line.includes('still sends the credentials of ADYEN_BASIC_AUTH_PREVIOUS'),
    )
    expect(warnings).toHaveLength(1)
    expect(svc.logs.join('\n')).not.toContain('old-password-456')
  })
})
