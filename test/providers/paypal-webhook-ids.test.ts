/**
 * PAYPAL_WEBHOOK_ID with several ids, through the whole service over real HTTP on a real SQLite file: two
 * PayPal webhooks posting to one URL (a second REST app's, or an old webhook and its re-created successor
 * while PayPal still retries the old one's deliveries). Each signs with its own webhook id; both are accepted,
 * a delivery signed for an id not listed is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { effectHandler, startTestService, type TestService } from '../support/test-service.ts'
import {
  type CountingServer,
  pki,
  sampleEvent,
  servePem,
  signedDelivery,
  startCertHost,
  WEBHOOK_ID,
} from './paypal-fixtures.ts'

const SECOND_WEBHOOK_ID = '5GP028458E2496506'

describe('PayPal with several webhook ids', () => {
  let svc: TestService
  let certHost: CountingServer
  const run = Date.now().toString(36)
  const recorded = (id: string) =>
    svc.query<{ n: number }>('SELECT count(*) AS n FROM test_effects WHERE event_id = ?', id)[0]?.n

  beforeAll(async () => {
    certHost = await startCertHost(servePem(pki.signingCert))
    svc = await startTestService({
      env: { PAYPAL_WEBHOOK_ID: ` ${WEBHOOK_ID} , ${SECOND_WEBHOOK_ID} `, PAYPAL_CERT_HOSTS: certHost.host },
      paypal: { ca: pki.ca },
      handlers: { 'effect.ts': effectHandler() },
    })
  })
  afterAll(async () => {
    await svc.dispose()
    await certHost.close()
  })

  const deliver = async (eventId: string, webhookId: string) => {
    const d = signedDelivery({ body: sampleEvent(eventId), certUrl: certHost.url(), webhookId })
    const res = await fetch(`${svc.url}/webhooks/paypal`, {
      method: 'POST',
      body: Buffer.from(d.body),
      headers: d.headers,
    })
    return { status: res.status, body: await res.json() }
  }

  it('accepts a delivery signed for either configured id, and runs each once', async () => {
    for (const [webhookId, n] of [
      [WEBHOOK_ID, 1],
      [SECOND_WEBHOOK_ID, 2],
    ] as const) {
      const eventId = `WH-${run}-${n}`
      expect(await deliver(eventId, webhookId)).toEqual({
        status: 200,
        body: { received: true, duplicate: false, status: 'processed' },
      })
      expect(recorded(eventId)).toBe(1)
    }
    // The delivery's log line says which configured id (from 0) verified it.
    const lines = svc.logs.map((line) => JSON.parse(line)).filter((line) => line.msg === 'delivery')
    for (const n of [1, 2]) {
      expect(lines.find((line) => line.eventId === `WH-${run}-${n}`)).toMatchObject({
        provider: 'paypal',
        outcome: 'processed',
        webhookIdIndex: n - 1,
      })
    }
    // A retry of the same event signed for the other webhook is the same event: a duplicate.
    expect((await deliver(`WH-${run}-1`, SECOND_WEBHOOK_ID)).body).toMatchObject({ duplicate: true })
    expect(recorded(`WH-${run}-1`)).toBe(1)
  })

  it('refuses (400) a delivery signed for an id not listed, or for the simulator placeholder, and records nothing', async () => {
    const unlisted = ['8XC41394FS3197430', 'WEBHOOK_ID', `${WEBHOOK_ID},${SECOND_WEBHOOK_ID}`]
    for (const [i, webhookId] of unlisted.entries()) {
      const eventId = `WH-${run}-unlisted-${i}`
      const res = await deliver(eventId, webhookId)
      expect(res.status).toBe(400)
      expect(recorded(eventId)).toBe(0)
      expect(svc.query('SELECT 1 FROM hookinbox_events WHERE event_id = ?', eventId)).toEqual([])
    }
  })
})
