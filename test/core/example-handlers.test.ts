/**
 * The example handlers shipped in handlers/, run by the real service: they do real work in their own tables
 * (whose migrations drizzle-kit generated from handlers/_schema.ts), and the subscriptions example shows
 * ctx.isStale keeping the newest state when Stripe delivers out of order. The money they record is right: a
 * Checkout session paid later by a delayed method, each refund once at its own amount, PayPal's decimal
 * amounts in exact minor units.
 */
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { notification, randomHexKey, sampleItem, signedItem } from '../providers/adyen-fixtures.ts'
import {
  type CountingServer,
  pki,
  servePem,
  signedDelivery,
  startCertHost,
  WEBHOOK_ID,
} from '../providers/paypal-fixtures.ts'
import { postStripe, stripeEvent, uniqueId } from '../support/stripe-signing.ts'
import { PROJECT_ROOT, tempDir } from '../support/temp-dir.ts'
import { startTestService, type TestService } from '../support/test-service.ts'

/** The README's "Writing a handler" example, exactly as printed there. */
function readmeExample(): string {
  const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8')
  const block = /```ts\n(\/\/ handlers\/checkout-completed\.ts[^\n]*\n[\s\S]*?)```/.exec(readme)?.[1]
  if (block === undefined) throw new Error('README.md has no handlers/checkout-completed.ts block')
  return block
}

const paidSession = (sessionId: string) =>
  stripeEvent({
    data: {
      object: { id: sessionId, object: 'checkout.session', payment_status: 'paid', amount_total: 4200 },
    },
  })

const ADYEN_KEY = randomHexKey()

/** PayPal's PAYMENT.CAPTURE.REFUNDED, as it sends it: the refund, its amount a decimal string. */
const paypalRefund = (
  value: string,
  currency: string,
  refundId = uniqueId('REF'),
  capture = uniqueId('CAP'),
) => ({
  id: `WH-${uniqueId('PP')}`,
  event_version: '1.0',
  create_time: new Date().toISOString(),
  resource_type: 'refund',
  resource_version: '2.0',
  event_type: 'PAYMENT.CAPTURE.REFUNDED',
  summary: `A ${currency} ${value} capture payment was refunded`,
  resource: {
    id: refundId,
    amount: { currency_code: currency, value },
    status: 'COMPLETED',
    links: [
      { href: `https://api.paypal.com/v2/payments/refunds/${refundId}`, rel: 'self', method: 'GET' },
      { href: `https://api.paypal.com/v2/payments/captures/${capture}`, rel: 'up', method: 'GET' },
    ],
  },
})

describe('the example handlers', () => {
  let svc: TestService
  let certHost: CountingServer
  beforeAll(async () => {
    certHost = await startCertHost(servePem(pki.signingCert))
    svc = await startTestService({
      env: {
        HANDLERS_DIR: `${PROJECT_ROOT}/handlers`,
        PAYPAL_WEBHOOK_ID: WEBHOOK_ID,
        PAYPAL_CERT_HOSTS: certHost.host,
        ADYEN_HMAC_KEY: ADYEN_KEY,
      },
      paypal: { ca: pki.ca },
    })
  })
  afterAll(async () => {
    await svc.dispose()
    await certHost.close()
  })

  /** Delivers a PayPal event signed as PayPal signs it; answers the status and the JSON body. */
  async function postPaypal(event: Record<string, unknown>) {
    const d = signedDelivery({ body: JSON.stringify(event), certUrl: certHost.url() })
    const res = await fetch(`${svc.url}/webhooks/paypal`, {
      method: 'POST',
      body: Buffer.from(d.body),
      headers: d.headers,
    })
    return { status: res.status, body: (await res.json()) as unknown }
  }

  it('records a paid Checkout session once', async () => {
    const sessionId = uniqueId('cs')
    const event = stripeEvent({
      data: {
        object: {
          id: sessionId,
          object: 'checkout.session',
          payment_status: 'paid',
          amount_total: 4200,
          currency: 'eur',
          customer_details: { email: 'ada@example.com' },
        },
      },
    })
    await postStripe(svc.url, event)
    await postStripe(svc.url, event)
    expect(
      svc.query(
        'SELECT session_id, customer_email, amount_total, currency FROM paid_checkouts WHERE session_id = ?',
        sessionId,
      ),
    ).toEqual([
      { session_id: sessionId, customer_email: 'ada@example.com', amount_total: 4200, currency: 'eur' },
    ])
  })

  it('records a Checkout session paid by a delayed method when its payment succeeds, not when it completes unpaid', async () => {
    const sessionId = uniqueId('cs')
    const session = (type: string, payment_status: string, created: number) =>
      stripeEvent({
        type,
        created,
        data: {
          object: {
            id: sessionId,
            object: 'checkout.session',
            payment_status,
            amount_total: 9900,
            currency: 'eur',
            payment_method_types: ['sepa_debit'],
          },
        },
      })
    const completedAt = Math.floor(Date.now() / 1000) - 3 * 86_400
    const paidAt = completedAt + 2 * 86_400
    // SEPA Direct Debit: the session completes unpaid, and the payment succeeds days later.
    expect(
      (await postStripe(svc.url, session('checkout.session.completed', 'unpaid', completedAt))).status,
    ).toBe(200)
    expect(svc.query('SELECT 1 FROM paid_checkouts WHERE session_id = ?', sessionId)).toEqual([])
    const succeeded = session('checkout.session.async_payment_succeeded', 'paid', paidAt)
    expect((await postStripe(svc.url, succeeded)).body).toMatchObject({ status: 'processed' })
    expect(
      svc.query('SELECT amount_total, currency, paid_at FROM paid_checkouts WHERE session_id = ?', sessionId),
    ).toEqual([{ amount_total: 9900, currency: 'eur', paid_at: paidAt * 1000 }])
  })

  it('keeps the newest subscription state when events arrive out of order', async () => {
    const sub = uniqueId('sub')
    const at = (created: number, type: string, status: string) =>
      stripeEvent({ type, created, data: { object: { id: sub, object: 'subscription', status } } })
    const t = Math.floor(Date.now() / 1000)
    // The newest update arrives first, then the creation, then an update from in between.
    await postStripe(svc.url, at(t - 10, 'customer.subscription.updated', 'past_due'))
    await postStripe(svc.url, at(t - 30, 'customer.subscription.created', 'incomplete'))
    await postStripe(svc.url, at(t - 20, 'customer.subscription.updated', 'active'))
    expect(svc.query('SELECT status FROM subscriptions WHERE id = ?', sub)).toEqual([{ status: 'past_due' }])
    // A newer event is applied.
    await postStripe(svc.url, at(t, 'customer.subscription.deleted', 'canceled'))
    expect(svc.query('SELECT status FROM subscriptions WHERE id = ?', sub)).toEqual([{ status: 'canceled' }])
    // The skipped events are still processed (acknowledged), not failed.
    const statuses = svc.query<{ status: string }>(
      "SELECT status FROM hookinbox_events WHERE type LIKE 'customer.subscription.%' AND payload LIKE ?",
      `%${sub}%`,
    )
    expect(statuses.map((s) => s.status)).toEqual(['processed', 'processed', 'processed', 'processed'])
  })

  /** Stripe's event about a refund: `refund.created`, `refund.updated`, `refund.failed`. */
  const stripeRefund = (type: string, id: string, charge: string, amount: number, status = 'succeeded') =>
    stripeEvent({
      type,
      data: { object: { id, object: 'refund', amount, charge, currency: 'usd', status } },
    })
  const stripeLedger = (charge: string) =>
    svc.query(
      "SELECT count(*) AS n, sum(amount_minor) AS total FROM refunds WHERE provider = 'stripe' AND reference = ?",
      charge,
    )

  it('records two partial Stripe refunds of one charge as their own amounts, once each however often they are told', async () => {
    const charge = uniqueId('ch')
    const [first, second] = [uniqueId('re'), uniqueId('re')]
    const chargeRefunded = (amountRefunded: number) =>
      stripeEvent({
        type: 'charge.refunded',
        data: {
          object: {
            id: charge,
            object: 'charge',
            amount: 1000,
            amount_refunded: amountRefunded,
            currency: 'usd',
          },
        },
      })
    const firstCreated = stripeRefund('refund.created', first, charge, 300)
    // What Stripe sends for each of two partial refunds, 300 then 500: `charge.refunded` with the charge's
    // cumulative amount refunded, and `refund.created` with the refund.
    const told = [
      chargeRefunded(300),
      firstCreated,
      chargeRefunded(800),
      stripeRefund('refund.created', second, charge, 500),
    ]
    // Then a re-delivery, and a later event about a refund already recorded.
    told.push(firstCreated, stripeRefund('refund.updated', first, charge, 300))
    for (const event of told) expect((await postStripe(svc.url, event)).status).toBe(200)
    expect(stripeLedger(charge)).toEqual([{ n: 2, total: 800 }])
    expect(
      svc.query(
        'SELECT refund_id, amount_minor, currency FROM refunds WHERE reference = ? ORDER BY id',
        charge,
      ),
    ).toEqual([
      { refund_id: first, amount_minor: 300, currency: 'usd' },
      { refund_id: second, amount_minor: 500, currency: 'usd' },
    ])
  })

  it('records a pending Stripe refund once it succeeds, and never one that fails first', async () => {
    const charge = uniqueId('ch')
    const [pending, failing] = [uniqueId('re'), uniqueId('re')]
    await postStripe(svc.url, stripeRefund('refund.created', pending, charge, 700, 'pending'))
    await postStripe(svc.url, stripeRefund('refund.created', failing, charge, 200, 'pending'))
    expect(stripeLedger(charge)).toEqual([{ n: 0, total: null }])
    await postStripe(svc.url, stripeRefund('refund.updated', pending, charge, 700, 'succeeded'))
    await postStripe(svc.url, stripeRefund('refund.updated', failing, charge, 200, 'failed'))
    await postStripe(svc.url, stripeRefund('refund.failed', failing, charge, 200, 'failed'))
    expect(svc.query('SELECT refund_id, amount_minor FROM refunds WHERE reference = ?', charge)).toEqual([
      { refund_id: pending, amount_minor: 700 },
    ])
  })

  it('records Adyen refunds under their own pspReference, against the payment, and not one Adyen refused', async () => {
    const payment = uniqueId('PAY')
    const [refunded, refused] = [uniqueId('REF'), uniqueId('REF')]
    const item = (pspReference: string, value: number, success: string) =>
      signedItem(
        sampleItem({
          eventCode: 'REFUND',
          pspReference,
          originalReference: payment,
          amount: { value, currency: 'EUR' },
          success,
        }),
        ADYEN_KEY,
      )
    const res = await fetch(`${svc.url}/webhooks/adyen`, {
      method: 'POST',
      body: notification([item(refunded, 1990, 'true'), item(refused, 500, 'false')]),
      headers: { 'content-type': 'application/json' },
    })
    expect(await res.text()).toBe('[accepted]')
    expect(
      svc.query(
        "SELECT refund_id, amount_minor, currency FROM refunds WHERE provider = 'adyen' AND reference = ?",
        payment,
      ),
    ).toEqual([{ refund_id: refunded, amount_minor: 1990, currency: 'EUR' }])
  })

  it("records PayPal refund amounts exactly in the currency's ISO 4217 minor units: JPY has none, KWD three", async () => {
    const cases = [
      { value: '100', currency: 'JPY', minor: 100 },
      { value: '10.5', currency: 'EUR', minor: 1050 },
      { value: '1.234', currency: 'KWD', minor: 1234 },
      { value: '19.90', currency: 'USD', minor: 1990 },
      // ISO 4217 gives the forint 2 decimals (as Stripe counts it), though PayPal sends whole forints.
      { value: '100', currency: 'HUF', minor: 10000 },
    ]
    for (const c of cases) {
      const capture = uniqueId('CAP')
      const event = paypalRefund(c.value, c.currency, uniqueId('REF'), capture)
      expect((await postPaypal(event)).body).toMatchObject({ status: 'processed' })
      expect(
        svc.query(
          'SELECT reference, amount_minor, currency FROM refunds WHERE provider = ? AND refund_id = ?',
          'paypal',
          event.resource.id,
        ),
        `${c.value} ${c.currency}`,
      ).toEqual([{ reference: capture, amount_minor: c.minor, currency: c.currency }])
    }
  })

  it('parks a PayPal refund whose amount it cannot convert exactly, with the reason, and records nothing', async () => {
    const cases = [
      {
        value: '1.2345',
        currency: 'KWD',
        reason: "amount 1.2345 KWD has more decimals than KWD's 3 (ISO 4217)",
      },
      {
        value: '100.5',
        currency: 'JPY',
        reason: "amount 100.5 JPY has more decimals than JPY's 0 (ISO 4217)",
      },
      { value: '1e3', currency: 'EUR', reason: 'amount "1e3" is not a plain decimal number' },
      { value: '-10.00', currency: 'EUR', reason: 'amount "-10.00" is not a plain decimal number' },
      { value: '10.00', currency: 'XYZ', reason: 'unknown currency "XYZ"' },
    ]
    for (const c of cases) {
      const event = paypalRefund(c.value, c.currency)
      // Parked at once (PayPal's retries could not change the amount), and acknowledged.
      expect(await postPaypal(event), `${c.value} ${c.currency}`).toEqual({
        status: 200,
        body: { received: true, duplicate: false, status: 'parked' },
      })
      const [row] = svc.query<{ last_error: string }>(
        'SELECT last_error FROM hookinbox_events WHERE event_id = ?',
        event.id,
      )
      expect(row?.last_error).toContain(c.reason)
      expect(svc.query('SELECT 1 FROM refunds WHERE refund_id = ?', event.resource.id)).toEqual([])
    }
  })
})

describe('ctx.isStale', () => {
  it('rolls back with the handler: a failed attempt does not mark the object as applied', async () => {
    const svc = await startTestService({
      env: { MAX_ATTEMPTS: '5' },
      handlers: {
        'stale.ts': `let calls = 0
export default {
  provider: 'stripe',
  events: ['test.stale'],
  async handle(event, ctx) {
    const stale = await ctx.isStale('thing-1', new Date(event.payload.created * 1000))
    globalThis.staleSeen = [...(globalThis.staleSeen ?? []), stale]
    if (++calls === 1) throw new Error('first attempt fails after isStale')
  },
}
`,
      },
    })
    try {
      const t = Math.floor(Date.now() / 1000)
      const newer = stripeEvent({ type: 'test.stale', created: t })
      const older = stripeEvent({ type: 'test.stale', created: t - 60 })
      expect((await postStripe(svc.url, newer)).status).toBe(500)
      // The failed attempt's isStale write was rolled back, so the older event is not stale yet…
      expect((await postStripe(svc.url, older)).status).toBe(200)
      // …and the retry of the newer one applies on top of it.
      expect((await postStripe(svc.url, newer)).status).toBe(200)
      expect((globalThis as { staleSeen?: boolean[] }).staleSeen).toEqual([false, false, false])
      expect(svc.query('SELECT occurred_at FROM hookinbox_object_versions')).toEqual([
        { occurred_at: t * 1000 },
      ])
    } finally {
      await svc.dispose()
    }
  })

  it('refuses a time that is not a Date (Stripe’s seconds, an ISO string) with the message that says what it needs', async () => {
    const svc = await startTestService({
      handlers: {
        'stale-misused.ts': `export default {
  provider: 'stripe',
  events: ['test.stale-number', 'test.stale-string'],
  async handle(event, ctx) {
    const at = event.type === 'test.stale-number' ? event.payload.created : '2024-05-01T00:00:00Z'
    await ctx.isStale('thing-2', at)
  },
}
`,
      },
    })
    try {
      for (const type of ['test.stale-number', 'test.stale-string']) {
        const event = stripeEvent({ type })
        expect((await postStripe(svc.url, event)).status).toBe(500)
        const [row] = svc.query<{ last_error: string }>(
          'SELECT last_error FROM hookinbox_events WHERE event_id = ?',
          event.id,
        )
        expect(row?.last_error).toContain(
          'ctx.isStale(objectKey, occurredAt) needs a non-empty string and a valid Date',
        )
      }
    } finally {
      await svc.dispose()
    }
  })
})

describe("the README's handler example", () => {
  it('runs as printed: two events naming one session are both processed, and insert one row', async () => {
    // A clone's layout, with the README's block as the only handler file.
    const dir = tempDir('readme-example')
    const handlers = join(dir.path, 'handlers')
    mkdirSync(handlers)
    cpSync(join(PROJECT_ROOT, 'handlers', '_schema.ts'), join(handlers, '_schema.ts'))
    writeFileSync(join(handlers, 'checkout-completed.ts'), readmeExample())
    symlinkSync(join(PROJECT_ROOT, 'src'), join(dir.path, 'src'))
    const svc = await startTestService({ dir: join(dir.path, 'svc'), env: { HANDLERS_DIR: handlers } })
    try {
      const sessionId = uniqueId('cs')
      // What `npm run send -- stripe checkout.session.completed --fresh-id` sends twice: new ids, one session.
      for (const event of [paidSession(sessionId), paidSession(sessionId)]) {
        const answer = await postStripe(svc.url, event)
        expect(answer.status).toBe(200)
        expect(answer.body).toMatchObject({ duplicate: false, status: 'processed' })
      }
      expect(svc.query('SELECT session_id FROM paid_checkouts WHERE session_id = ?', sessionId)).toHaveLength(
        1,
      )
    } finally {
      await svc.dispose()
      dir.remove()
    }
  })
})
