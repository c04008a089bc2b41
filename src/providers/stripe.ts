/**
 * Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>…]` over `<t>.<raw body>`, HMAC-SHA256 keyed
 * with the whole `whsec_…` secret (UTF-8), lowercase hex. Any `v1` under any configured secret passes
 * (rotation); every other scheme (`v0`, …) is ignored. Checked in the stripe package's order: signature
 * first, then the age (older than the tolerance fails; a future timestamp passes; tolerance 0 disables it).
 *
 * Verified with node:crypto over the raw bytes rather than with the stripe package's verifier: the package
 * costs ~20 MB of memory to load and, given bytes, decodes them leniently (U+FFFD for bad bytes, a leading BOM
 * dropped) and signs that text, so several different byte strings would pass under one signature. Here the
 * body must be strict UTF-8 (a BOM is kept), and the HMAC runs over exactly the bytes received. The header is
 * split as the package splits it (`,` then `=`, no trimming; the last `t` counts); a property test checks
 * both verifiers agree, with signatures made by the package (test/hostile/signature-properties.test.ts). One
 * known difference: an empty `v1` item (`v1=` or a bare `v1`) makes the package throw whatever else the
 * header holds; here it is simply no match, and another `v1` may still verify.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { AppError } from '../errors.ts'
import { isEventKey, MAX_EVENT_ID_LENGTH, MAX_EVENT_TYPE_LENGTH } from './event-key.ts'
import { eventTime, providerTime } from './event-time.ts'
import { parseEventJson } from './parse-event-json.ts'
import type { Provider, RawDelivery, VerifiedEvent } from './provider.ts'

export interface StripeProviderOptions {
  secrets: readonly string[]
  toleranceSeconds: number
  /**
   * `skip`: a test-mode event (`livemode: false`) is answered without being recorded or run. A live Connect
   * endpoint receives the test-mode events of accounts connected in live mode too, signed with its live
   * secret, so the secrets alone do not keep them out. Default `run`.
   */
  testEvents?: 'run' | 'skip'
}

const MAX_HEADER_LENGTH = 8192
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function reject(message: string, reason: string): never {
  throw new AppError('invalid_signature', message, { reason })
}

/** The header's timestamp and v1 signatures, split the way the stripe package splits them. */
export function parseStripeSignature(header: string): { timestamp: string | undefined; v1: string[] } {
  let timestamp: string | undefined
  const v1: string[] = []
  for (const item of header.split(',')) {
    const [key, value] = item.split('=')
    if (key === 't') timestamp = value
    else if (key === 'v1' && value) v1.push(value)
  }
  return { timestamp, v1 }
}

/** Whether any of `signatures` is the v1 HMAC of `<timestamp>.<body>` under `secret` (constant time). */
function signedWith(secret: string, timestamp: number, body: Uint8Array, signatures: readonly Buffer[]) {
  const expected = Buffer.from(
    createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex'),
    'latin1',
  )
  let matched = false
  for (const signature of signatures) {
    if (signature.length === expected.length && timingSafeEqual(signature, expected)) matched = true
  }
  return matched
}

export function createStripeProvider(options: StripeProviderOptions): Provider {
  if (options.secrets.length === 0) throw new Error('Stripe needs at least one webhook secret')
  // An empty key signs anything anyone can compute.
  if (options.secrets.some((s) => s.trim() === '')) throw new Error('a Stripe webhook secret is empty')
  return {
    name: 'stripe',
    async verify(delivery: RawDelivery): Promise<VerifiedEvent[]> {
      const header = delivery.headers.get('stripe-signature')
      if (header === null || header.trim() === '') reject('missing Stripe-Signature header', 'missing_header')
      if (header.length > MAX_HEADER_LENGTH) reject('Stripe-Signature header too long', 'malformed_header')
      const parsed = parseStripeSignature(header)
      if (parsed.timestamp === undefined || !/^\d{1,12}$/.test(parsed.timestamp)) {
        reject('Stripe-Signature header has no valid timestamp', 'malformed_header')
      }
      if (parsed.v1.length === 0) reject('Stripe-Signature header has no v1 signature', 'malformed_header')
      // The stripe package signs the timestamp as it parsed it (parseInt: no leading zeros).
      const timestamp = Number(parsed.timestamp)
      // An empty body is no event (and the stripe package cannot verify one either).
      if (delivery.body.byteLength === 0) reject('the body is empty', 'malformed_body')
      let body: string
      try {
        body = decoder.decode(delivery.body)
      } catch {
        reject('the body is not valid UTF-8', 'malformed_body')
      }

      const signatures = parsed.v1.map((v) => Buffer.from(v, 'latin1'))
      if (!options.secrets.some((secret) => signedWith(secret, timestamp, delivery.body, signatures))) {
        reject('no signature matches the payload', 'bad_signature')
      }
      const age = Math.floor(delivery.receivedAt.getTime() / 1000) - timestamp
      if (options.toleranceSeconds > 0 && age > options.toleranceSeconds) {
        // The age tells a stale replay (one delivery) from this server's clock being ahead (every delivery, all
        // about the same age): it shows in the answer (in Stripe's delivery log) and the warning line.
        reject(
          `timestamp outside the tolerance zone: signed ${age} s before it arrived, more than ${options.toleranceSeconds} s`,
          'stale_timestamp',
        )
      }

      const event = parseEventJson(body)
      const id = event.id
      const type = event.type
      if (!isEventKey(id, MAX_EVENT_ID_LENGTH)) {
        throw new AppError('invalid_event', 'the event has no valid "id"')
      }
      if (!isEventKey(type, MAX_EVENT_TYPE_LENGTH)) {
        throw new AppError('invalid_event', 'the event has no valid "type"')
      }
      // Snapshot events give `created` in Unix seconds; v2 "thin" events (`object: "v2.core.event"`, sent to
      // event destinations) give an ISO date-time.
      const occurredAt =
        typeof event.created === 'number'
          ? eventTime(new Date(event.created * 1000))
          : providerTime(event.created)
      return [
        {
          provider: 'stripe',
          id,
          type,
          payload: event,
          payloadJson: body,
          ...(occurredAt ? { occurredAt } : {}),
          ...(typeof event.livemode === 'boolean' ? { livemode: event.livemode } : {}),
          // Only an explicit false: an event without the field cannot be told apart, so it runs.
          ...(options.testEvents === 'skip' && event.livemode === false
            ? { skip: 'test_mode' as const }
            : {}),
        },
      ]
    },
  }
}
