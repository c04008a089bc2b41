import Stripe from 'stripe'

export const STRIPE_SECRET = 'whsec_test_secret_for_hookinbox'

let counter = 0
export const uniqueId = (prefix = 'evt') =>
  `${prefix}_${process.pid}_${Date.now().toString(36)}_${(counter++).toString(36)}`

export function stripeEvent(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: uniqueId(),
    object: 'event',
    type: 'checkout.session.completed',
    created: Math.floor(Date.now() / 1000),
    data: {
      object: { id: uniqueId('cs'), object: 'checkout.session', payment_status: 'paid', amount_total: 1999 },
    },
    ...overrides,
  }
}

/** Signs exactly as Stripe does, with the stripe package's own test helper. */
export function stripeSignature(payload: string, secret = STRIPE_SECRET, timestamp?: number): string {
  const webhooks = Stripe.webhooks as unknown as {
    generateTestHeaderString(o: { payload: string; secret: string; timestamp?: number }): string
  }
  return webhooks.generateTestHeaderString({
    payload,
    secret,
    ...(timestamp === undefined ? {} : { timestamp }),
  })
}

export async function postStripe(
  baseUrl: string,
  payload: string | Record<string, unknown>,
  options: {
    secret?: string
    timestamp?: number
    signature?: string | null
    headers?: Record<string, string>
  } = {},
): Promise<{ status: number; body: unknown; text: string }> {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload)
  const headers: Record<string, string> = { 'content-type': 'application/json', ...options.headers }
  const signature =
    options.signature === undefined
      ? stripeSignature(body, options.secret, options.timestamp)
      : options.signature
  if (signature !== null) headers['stripe-signature'] = signature
  const res = await fetch(`${baseUrl}/webhooks/stripe`, { method: 'POST', body, headers })
  const text = await res.text()
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = text
  }
  return { status: res.status, body: parsed, text }
}
