/**
 * Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed with the whole
 * `whsec_…` secret. The stripe package's own helper computes it, exactly as Stripe does.
 */
import Stripe from 'stripe'
import type { PreparedEvent } from './events.ts'
import type { Signer } from './signed-request.ts'

/** Stripe sends its events pretty-printed; a user's file is sent byte for byte. */
export const stripeBody = (event: PreparedEvent): string =>
  event.verbatim ?? JSON.stringify(event.payload, null, 2)

export function stripeSigner(event: PreparedEvent, secret: string): Signer {
  const body = stripeBody(event)
  return (now) => ({
    body,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'stripe-signature': Stripe.webhooks.generateTestHeaderString({
        payload: body,
        secret,
        timestamp: Math.floor(now.getTime() / 1000),
      }),
    },
  })
}
