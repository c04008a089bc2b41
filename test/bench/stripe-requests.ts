/**
 * Pre-signed Stripe deliveries. Everything is built before the clock starts, so the load generator only
 * copies bytes: signing (an HMAC per request) is never part of a measurement. All signatures share one
 * timestamp, taken when the pool is built; the bench's servers accept it because they run with
 * STRIPE_TOLERANCE_SECONDS=86400 (Stripe's default 300 s would expire during a long run).
 */
import { createHmac, randomBytes } from 'node:crypto'
import Stripe from 'stripe'

export const BENCH_STRIPE_SECRET = 'whsec_bench_secret_for_hookinbox_0123456789'
export const BENCH_TOLERANCE_SECONDS = 86_400
export const STRIPE_PATH = '/webhooks/stripe'

export interface PreparedRequest {
  method: 'POST' | 'GET'
  path: string
  headers: Record<string, string>
  body: string
}

/** Stripe's scheme: `t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<body>" keyed with the whole whsec_ secret>`. */
export function stripeSignatureHeader(body: string, timestamp: number, secret = BENCH_STRIPE_SECRET): string {
  const v1 = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')
  return `t=${timestamp},v1=${v1}`
}

/** A realistic checkout.session.completed event (about 1 KB, the order of size Stripe sends). */
function eventBody(id: string, n: number, created: number): string {
  return JSON.stringify({
    id,
    object: 'event',
    api_version: '2024-06-20',
    created,
    data: {
      object: {
        id: `cs_test_${id.slice(4)}`,
        object: 'checkout.session',
        amount_subtotal: 1999 + (n % 1000),
        amount_total: 1999 + (n % 1000),
        currency: 'eur',
        customer: `cus_${id.slice(-14)}`,
        customer_details: {
          address: {
            city: 'Berlin',
            country: 'DE',
            line1: 'Example Street 1',
            line2: null,
            postal_code: '10115',
            state: null,
          },
          email: `customer${n}@example.com`,
          name: 'Jenny Rosen',
          phone: null,
          tax_exempt: 'none',
        },
        livemode: false,
        metadata: { order_id: `order_${n}` },
        mode: 'payment',
        payment_intent: `pi_${id.slice(-20)}`,
        payment_method_types: ['card'],
        payment_status: 'paid',
        status: 'complete',
        success_url: 'https://example.com/success',
        total_details: { amount_discount: 0, amount_shipping: 0, amount_tax: 0 },
      },
    },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: 'checkout.session.completed',
  })
}

/** A run-unique tag so event ids never collide with a previous run's (the scale database is reused). */
export const runTag = () => randomBytes(6).toString('base64url').replace(/[-_]/g, 'x').slice(0, 6)

/** `count` distinct, validly signed events: `evt_<tag><prefix><n>` (28 characters, like Stripe's). */
export function stripeRequests(count: number, prefix: string): PreparedRequest[] {
  const timestamp = Math.floor(Date.now() / 1000)
  const tag = `${runTag()}${prefix}`
  const requests: PreparedRequest[] = new Array(count)
  for (let n = 0; n < count; n++) {
    const id = `evt_${tag}${n.toString(36).padStart(24 - tag.length, '0')}`
    const body = eventBody(id, n, timestamp)
    requests[n] = {
      method: 'POST',
      path: STRIPE_PATH,
      headers: {
        'content-type': 'application/json',
        'stripe-signature': stripeSignatureHeader(body, timestamp),
      },
      body,
    }
  }
  if (count > 0) assertStripeAccepts(requests[0] as PreparedRequest)
  return requests
}

/** Our signer must agree with the stripe package's verifier, or every measured request would be a 400. */
function assertStripeAccepts(request: PreparedRequest) {
  const signature = Stripe.webhooks.signature
  if (!signature) throw new Error('the stripe package has no webhook signature verifier')
  signature.verifyHeader(
    request.body,
    request.headers['stripe-signature'] as string,
    BENCH_STRIPE_SECRET,
    BENCH_TOLERANCE_SECONDS,
  )
}
