/**
 * PayPal webhooks. Two ways to prove a delivery:
 * - offline: fetch PayPal's signing certificate from an allow-listed URL (cached) and check the RSA
 *   signature ourselves; no credentials needed, one network call per new certificate.
 * - api: ask PayPal's verify-webhook-signature endpoint; needs REST credentials and a call per delivery.
 */
import { createHash } from 'node:crypto'
import { AppError } from '../../errors.ts'
import { LATEST } from '../event-time.ts'
import type { Provider, RawDelivery, VerifiedEvent } from '../provider.ts'
import type { PaypalApiOptions } from './api-config.ts'
import { createApiVerifier } from './api-verify.ts'
import { type CertCache, createMemoryCertCache, createTieredCertCache } from './cert-cache.ts'
import type { CertFetchOptions } from './cert-fetch.ts'
import { createCertSource } from './cert-source.ts'
import { checkCertUrl, parseCertHost } from './cert-url.ts'
import { paypalEvent } from './event.ts'
import { rejected } from './failures.ts'
import { readPaypalTransmission } from './headers.ts'
import { jsonObjectText } from './json-body.ts'
import { createTokenSource } from './oauth-token.ts'
import { matchPaypalWebhookId } from './verify-signature.ts'

export type { PaypalApiOptions } from './api-config.ts'
export { type CertCache, createMemoryCertCache, createTieredCertCache } from './cert-cache.ts'
export { CERT_PATH_PREFIX, checkCertUrl } from './cert-url.ts'
export {
  checkCertSubject,
  checkCertValidity,
  PAYPAL_CERT_NAMES,
  parseLeafCertificate,
} from './certificate.ts'
export { PAYPAL_AUTH_ALGO, type PaypalTransmission, readPaypalTransmission } from './headers.ts'
export { jsonObjectText } from './json-body.ts'
export { postbackBody } from './postback-body.ts'
export { paypalCrc32, paypalSignedMessage } from './signed-message.ts'
export { type PaypalSignatureInput, verifyPaypalSignature } from './verify-signature.ts'

export interface PaypalProviderOptions {
  /**
   * The ids PayPal gave our webhook subscriptions, the only webhook ids ever used to verify. Several when more
   * than one webhook delivers to this URL (one per REST app, or an old and a re-created one during a
   * rotation): offline, a delivery is accepted under any of them; api mode takes exactly one.
   */
  readonly webhookIds: readonly string[]
  readonly mode: 'offline' | 'api'
  /** Offline mode: hosts certificates may be fetched from, `host` (port 443 only) or `host:port`. */
  readonly certHosts: readonly string[]
  /** The clock for certificate validity; defaults to the delivery's `receivedAt`. */
  readonly now?: () => Date
  /** A persistent cache (e.g. the database); an in-memory level is always put in front of it. */
  readonly certCache?: CertCache
  /** Deadline for one certificate download or API call, in ms (default 5000). */
  readonly fetchTimeoutMs?: number
  /** Largest certificate download accepted, in bytes (default 64 KiB). */
  readonly maxCertBytes?: number
  /** Required in api mode. */
  readonly api?: PaypalApiOptions
  /**
   * Development mode only: public keys (PEM) trusted for exact certificate URLs, instead of fetching them.
   * `npm run dev` sets one for its local signing key; `npm start` never does.
   */
  readonly devKeys?: Readonly<Record<string, string>>
  /** Extra CA certificates to trust for certificate downloads (tests); production uses Node's defaults. */
  readonly ca?: CertFetchOptions['ca']
  /**
   * Transmissions signed longer ago than this are refused (PAYPAL_MAX_TRANSMISSION_AGE_DAYS, 4 days: PayPal
   * retries for 3). The inbox binds each transmission to its body, but only once it commits an event: the
   * headers of a delivery that never got that far (a 503) stay unbound, and usable with a forged body of the
   * same CRC-32, for this long. It is at most DEDUP_KEEP_DAYS, which is how long bindings are kept.
   */
  readonly maxTransmissionAgeMs?: number
}

const DEFAULT_TIMEOUT_MS = 5000
const DEFAULT_MAX_CERT_BYTES = 64 * 1024

/** Configuration mistakes are plain Errors at startup, never per-request AppErrors. */
function validate(opts: PaypalProviderOptions): void {
  if (opts.webhookIds.length === 0) throw new Error('PayPal provider: a webhook id is required')
  if (opts.webhookIds.some((id) => id.length === 0)) throw new Error('PayPal provider: a webhook id is empty')
  if (opts.mode === 'api') {
    // PayPal's API checks one webhook_id per call: several would cost a call each for every forged delivery.
    if (opts.webhookIds.length > 1)
      throw new Error('PayPal provider: api mode verifies with one webhook id; offline mode takes several')
    if (!opts.api?.baseUrl || !opts.api.clientId || !opts.api.clientSecret) {
      throw new Error('PayPal provider: api mode needs baseUrl, clientId and clientSecret')
    }
    return
  }
  if (opts.certHosts.length === 0)
    throw new Error('PayPal provider: offline mode needs at least one certificate host')
  const bad = opts.certHosts.findIndex((entry) => parseCertHost(entry) === undefined)
  if (bad !== -1)
    throw new Error(`PayPal provider: certificate host entry ${bad + 1} is not host or host:port`)
}

export function createPaypalProvider(opts: PaypalProviderOptions): Provider {
  validate(opts)
  const timeoutMs = opts.fetchTimeoutMs ?? DEFAULT_TIMEOUT_MS
  const certHosts = [...opts.certHosts]
  const webhookIds = [...opts.webhookIds]
  const certs = createCertSource(
    opts.certCache ? createTieredCertCache(opts.certCache) : createMemoryCertCache(),
    { timeoutMs, maxBytes: opts.maxCertBytes ?? DEFAULT_MAX_CERT_BYTES, ...(opts.ca ? { ca: opts.ca } : {}) },
  )
  const apiVerify =
    opts.mode === 'api' && opts.api
      ? createApiVerifier(
          opts.api,
          opts.webhookIds[0] as string,
          createTokenSource(opts.api, timeoutMs),
          timeoutMs,
        )
      : undefined

  const clock = (delivery: RawDelivery) => (opts.now ? opts.now() : delivery.receivedAt)

  /** The transmission headers, refused when the signed time is past the configured age. */
  function readTransmission(delivery: RawDelivery) {
    const transmission = readPaypalTransmission(delivery.headers)
    const sent = Date.parse(transmission.transmissionTime)
    if (opts.maxTransmissionAgeMs !== undefined) {
      if (Number.isNaN(sent)) throw rejected('malformed_header', 'PAYPAL-TRANSMISSION-TIME is not a date')
      if (clock(delivery).getTime() - sent > opts.maxTransmissionAgeMs) {
        throw rejected(
          'stale_transmission',
          'the PayPal transmission is older than PAYPAL_MAX_TRANSMISSION_AGE_DAYS',
        )
      }
    }
    // Kept with the binding: a transmission signed ahead of our clock (PayPal's clock ahead, or ours behind
    // when it arrived) is accepted until its signed time plus the age, so its binding must last from then,
    // not from its arrival. Capped where both stores still keep a time; one earlier than that is stale.
    const signedAt = Number.isNaN(sent) ? undefined : new Date(Math.min(sent, LATEST))
    return { ...transmission, signedAt }
  }

  /** The event, with its transmission bound to the exact body (PayPal's signature covers only a CRC-32). */
  function eventOf(
    delivery: RawDelivery,
    transmission: { transmissionId: string; signedAt: Date | undefined },
    parsed: { value: Record<string, unknown>; text: string },
  ) {
    const bodySha256 = createHash('sha256').update(delivery.body).digest('hex')
    const { transmissionId: id, signedAt } = transmission
    return {
      ...paypalEvent(parsed.value, parsed.text),
      transmission: { id, bodySha256, ...(signedAt ? { signedAt } : {}) },
    }
  }

  async function verifyOffline(delivery: RawDelivery): Promise<VerifiedEvent[]> {
    const transmission = readTransmission(delivery)
    // Development mode only: a local key trusted for one reserved URL, never fetched (see src/dev/).
    const devKey =
      opts.devKeys && Object.hasOwn(opts.devKeys, transmission.certUrl)
        ? opts.devKeys[transmission.certUrl]
        : undefined
    // Checked before anything touches the network: a disallowed URL never causes a connection.
    const certificate =
      devKey ?? (await certs.get(checkCertUrl(transmission.certUrl, certHosts), clock(delivery)))
    // The certificate and the RSA check are the same for every webhook; only the id in the message differs.
    const matched = matchPaypalWebhookId(
      {
        transmissionId: transmission.transmissionId,
        transmissionTime: transmission.transmissionTime,
        body: delivery.body,
        signature: transmission.transmissionSig,
        certificate,
      },
      webhookIds,
    )
    if (matched === -1) throw rejected('bad_signature', 'PayPal signature mismatch')
    const parsed = jsonObjectText(delivery.body)
    if (!parsed)
      throw new AppError('invalid_event', 'PayPal event is not a usable JSON object', {
        reason: 'malformed_event',
      })
    const event = eventOf(delivery, transmission, parsed)
    return [webhookIds.length > 1 ? { ...event, webhookIdIndex: matched } : event]
  }

  async function verifyWithApi(delivery: RawDelivery, verify: NonNullable<typeof apiVerify>) {
    const transmission = readTransmission(delivery)
    const parsed = jsonObjectText(delivery.body)
    // Nothing can be verified (or safely spliced into the API request) unless the body is one JSON object.
    if (!parsed) throw rejected('malformed_body', 'PayPal delivery body is not a JSON object')
    await verify(transmission, parsed.text)
    return [eventOf(delivery, transmission, parsed)]
  }

  return {
    name: 'paypal',
    verify(delivery) {
      return apiVerify ? verifyWithApi(delivery, apiVerify) : verifyOffline(delivery)
    },
  }
}
