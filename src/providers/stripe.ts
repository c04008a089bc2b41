/**
 * Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]` over `<t>.<raw body>`, HMAC-SHA256 keyed
 * with the whole `whsec_…` secret. Verified with the stripe package's own verifier against every configured
 * secret (rotation: any v1 under any secret passes); timestamps older than the tolerance fail. The body is
 * parsed only after a signature matched.
 *
 * The body reaches the verifier as text decoded strictly (invalid UTF-8 is refused, a BOM is kept): given raw
 * bytes, the stripe package decodes them leniently (U+FFFD for bad bytes, a leading BOM dropped) and signs
 * that text, so several different byte strings would pass under one signature.
 */
import Stripe from 'stripe'
import { AppError } from '../errors.ts'
import { parseEventJson } from './parse-event-json.ts'
import type { Provider, RawDelivery, VerifiedEvent } from './provider.ts'

export interface StripeProviderOptions {
  secrets: readonly string[]
  toleranceSeconds: number
}

const MAX_HEADER_LENGTH = 8192
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
// The static verifier makes no network request and needs no API key.
const verifier = (() => {
  const signature = Stripe.webhooks.signature
  if (!signature) throw new Error('the stripe package has no webhook signature verifier')
  return signature
})()

function reject(message: string, reason: string): never {
  throw new AppError('invalid_signature', message, { reason })
}

export function createStripeProvider(options: StripeProviderOptions): Provider {
  if (options.secrets.length === 0) throw new Error('Stripe needs at least one webhook secret')
  return {
    name: 'stripe',
    async verify(delivery: RawDelivery): Promise<VerifiedEvent[]> {
      const header = delivery.headers.get('stripe-signature')
      if (header === null || header.trim() === '') reject('missing Stripe-Signature header', 'missing_header')
      if (header.length > MAX_HEADER_LENGTH) reject('Stripe-Signature header too long', 'malformed_header')
      const items = header.split(',')
      const timestamp = items.find((item) => item.startsWith('t='))?.slice(2)
      if (timestamp === undefined || !/^\d{1,12}$/.test(timestamp)) {
        reject('Stripe-Signature header has no valid timestamp', 'malformed_header')
      }
      if (!items.some((item) => item.startsWith('v1=') && item.length > 3)) {
        reject('Stripe-Signature header has no v1 signature', 'malformed_header')
      }
      const age = Math.floor(delivery.receivedAt.getTime() / 1000) - Number(timestamp)
      // (The stripe package cannot verify an empty body; it is no event either way.)
      if (delivery.body.byteLength === 0) reject('the body is empty', 'malformed_body')
      let body: string
      try {
        body = decoder.decode(delivery.body)
      } catch {
        reject('the body is not valid UTF-8', 'malformed_body')
      }

      let matched = false
      for (const secret of options.secrets) {
        try {
          // The stripe package checks the signature first, then the age (with the tolerance we pass and our
          // own clock), so a match with an old timestamp still throws.
          verifier.verifyHeader(
            body,
            header,
            secret,
            options.toleranceSeconds,
            undefined,
            delivery.receivedAt.getTime(),
          )
          matched = true
          break
        } catch {
          // try the next secret; the reason is decided below without echoing anything secret
        }
      }
      if (!matched) {
        if (
          age > options.toleranceSeconds &&
          signedByAny(body, header, options.secrets, delivery.receivedAt)
        ) {
          reject('timestamp outside the tolerance zone', 'stale_timestamp')
        }
        reject('no signature matches the payload', 'bad_signature')
      }

      const event = parseEventJson(body)
      const id = event.id
      const type = event.type
      if (typeof id !== 'string' || id.length === 0 || id.length > 255) {
        throw new AppError('invalid_event', 'the event has no valid "id"')
      }
      if (typeof type !== 'string' || type.length === 0 || type.length > 255) {
        throw new AppError('invalid_event', 'the event has no valid "type"')
      }
      const created = typeof event.created === 'number' ? new Date(event.created * 1000) : undefined
      return [
        {
          provider: 'stripe',
          id,
          type,
          payload: event,
          payloadJson: body,
          ...(created && !Number.isNaN(created.getTime()) ? { occurredAt: created } : {}),
        },
      ]
    },
  }
}

/** Whether the signature matches under some secret when the age check is left out (to name the reason). */
function signedByAny(body: string, header: string, secrets: readonly string[], receivedAt: Date): boolean {
  return secrets.some((secret) => {
    try {
      return verifier.verifyHeader(body, header, secret, 0, undefined, receivedAt.getTime())
    } catch {
      return false
    }
  })
}
