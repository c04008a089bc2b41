/**
 * Adyen classic ("Standard") webhooks: every NotificationRequestItem carries its own HMAC-SHA256 in
 * `additionalData.hmacSignature`, computed over eight item fields joined by `:`. Optional HTTP Basic auth
 * proves the sender knows the endpoint credentials; the HMAC additionally proves the item is unaltered.
 *
 * Production code uses node:crypto directly rather than `@adyen/api-library`: the library's
 * `getDataToSign` picks its algorithm by checking whether every value of the object is a string (an item
 * without an `amount` object silently goes down the legacy HPP path), it throws plain errors on missing
 * fields, and it is a large dependency for ~20 lines of logic. The library is used in tests, to sign.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { AppError } from '../errors.ts'
import { isEventKey, LONE_SURROGATE, MAX_ADYEN_ID_LENGTH, MAX_EVENT_TYPE_LENGTH } from './event-key.ts'
import { providerTime } from './event-time.ts'
import { jsonNestingExceeds, MAX_JSON_DEPTH } from './parse-event-json.ts'
import type { Provider, RawDelivery, VerifiedEvent } from './provider.ts'

export interface AdyenProviderOptions {
  /** HMAC keys, already hex-decoded. Several during a rotation: an item signed with any of them verifies. */
  readonly hmacKeys: readonly Buffer[]
  /** When set, every request must carry exactly these HTTP Basic credentials (checked before the HMAC). */
  readonly basicAuth?: BasicCredentials
  /**
   * With `basicAuth`, the credentials it replaces, accepted as well while Adyen switches to the new ones (a
   * change in the Customer Area takes effect at Adyen's side on its own schedule).
   */
  readonly previousBasicAuth?: BasicCredentials
}

interface BasicCredentials {
  readonly user: string
  readonly password: string
}

type JsonObject = Record<string, unknown>

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const malformed = (message: string) =>
  new AppError('invalid_signature', message, { reason: 'malformed_item' })

/**
 * One signed field as Adyen's libraries render it: strings as-is (no trim, no escaping), numbers in plain
 * decimal, booleans as `true`/`false`, missing/null as the empty string. Anything else (objects, arrays) is
 * not something Adyen signs, so the item is refused rather than given an arbitrary rendering.
 */
function signedField(value: unknown, name: string): string {
  if (value === undefined || value === null) return ''
  if (typeof value === 'string') {
    // A lone surrogate cannot be encoded as UTF-8; Node would silently turn it into U+FFFD before hashing.
    if (LONE_SURROGATE.test(value)) throw malformed(`field ${name} is not valid text`)
    return value
  }
  if (typeof value === 'number' && Number.isFinite(value)) return String(value)
  if (typeof value === 'boolean') return String(value)
  throw malformed(`field ${name} has an unsupported type`)
}

/** The exact string Adyen signs for a NotificationRequestItem (the eight fields joined by `:`). */
export function adyenSigningString(item: unknown): string {
  if (!isObject(item)) throw malformed('notification item is not an object')
  const amount = item.amount
  if (amount !== undefined && amount !== null && !isObject(amount)) throw malformed('amount is not an object')
  const value = isObject(amount) ? amount.value : undefined
  const currency = isObject(amount) ? amount.currency : undefined
  return [
    signedField(item.pspReference, 'pspReference'),
    signedField(item.originalReference, 'originalReference'),
    signedField(item.merchantAccountCode, 'merchantAccountCode'),
    signedField(item.merchantReference, 'merchantReference'),
    signedField(value, 'amount.value'),
    signedField(currency, 'amount.currency'),
    signedField(item.eventCode, 'eventCode'),
    signedField(item.success, 'success'),
  ].join(':')
}

/** Adyen's HMAC primitive: HMAC-SHA256 with the decoded key, base64. Strings are hashed as UTF-8. */
export function adyenHmac(data: string | Uint8Array, key: Buffer): string {
  return createHmac('sha256', key).update(data).digest('base64')
}

/** Base64 HMAC-SHA256 of an item's signing string. Throws AppError('invalid_signature') for unusable shapes. */
export function adyenItemSignature(item: unknown, key: Buffer): string {
  return adyenHmac(adyenSigningString(item), key)
}

const HEX = /^[0-9a-fA-F]+$/

/**
 * Parses the comma-separated list of hex HMAC keys from configuration. Validated strictly because
 * `Buffer.from(s, 'hex')` silently truncates at the first non-hex character, which would leave a key that
 * never verifies anything. Error messages name the position, never the key.
 */
export function parseAdyenHmacKeys(csv: string): Buffer[] {
  const entries = csv
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0)
  if (entries.length === 0) throw new Error('Adyen HMAC keys: at least one hex key is required')
  return entries.map((entry, index) => {
    if (!HEX.test(entry) || entry.length % 2 !== 0) {
      throw new Error(
        `Adyen HMAC keys: entry ${index + 1} is not a hex string with an even number of digits (${entry.length} characters)`,
      )
    }
    return Buffer.from(entry, 'hex')
  })
}

/** Constant-time check of a received base64 signature against the expected one, compared as bytes. */
function signatureMatches(expectedBase64: string, received: unknown): boolean {
  // A real signature is 44 characters; the cap keeps hostile input from costing a large decode.
  if (typeof received !== 'string' || received.length === 0 || received.length > 256) return false
  const expected = Buffer.from(expectedBase64, 'base64')
  const actual = Buffer.from(received, 'base64')
  // Node's base64 decoder skips junk and stops at padding, so several strings decode to the same bytes;
  // only the canonical encoding (what Adyen sends) is accepted. No secret is involved in this check.
  if (actual.toString('base64') !== received) return false
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}

/**
 * The signed fields are joined by `:` without escaping, so a colon inside one of them could be moved into its
 * neighbour without changing the signed string (`M` + `shop:42` signs like `M:shop` + `42`): a different item
 * under the same signature. Only merchantReference (the merchant's own text) may hold a colon; the others are
 * Adyen's references, account codes, amounts, currency codes, event codes and `true`/`false`, which never do.
 * With every other field colon-free, the signed string splits one way only.
 */
function refuseShiftableColons(item: JsonObject): void {
  const amount = isObject(item.amount) ? item.amount : {}
  const fields: Array<[string, unknown]> = [
    ['pspReference', item.pspReference],
    ['originalReference', item.originalReference],
    ['merchantAccountCode', item.merchantAccountCode],
    ['amount.value', amount.value],
    ['amount.currency', amount.currency],
    ['eventCode', item.eventCode],
    ['success', item.success],
  ]
  for (const [name, value] of fields) {
    if (typeof value === 'string' && value.includes(':')) {
      throw malformed(`field ${name} contains ':', which only merchantReference may hold`)
    }
  }
}

function verifyItem(item: JsonObject, keys: readonly Buffer[]): void {
  refuseShiftableColons(item)
  const additionalData = item.additionalData
  const received = isObject(additionalData) ? additionalData.hmacSignature : undefined
  if (typeof received !== 'string' || received.length === 0) {
    throw new AppError('invalid_signature', 'notification item has no HMAC signature', {
      reason: 'missing_signature',
    })
  }
  // Every key is tried so rotation works; which one matched is not secret, so `some` may stop early.
  const ok = keys.some((key) => signatureMatches(adyenItemSignature(item, key), received))
  if (!ok)
    throw new AppError('invalid_signature', 'notification item signature mismatch', {
      reason: 'bad_signature',
    })
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** The NotificationRequestItem objects of a classic notification, or an AppError when the shape is wrong. */
function notificationItems(body: Uint8Array, headers: Headers): JsonObject[] {
  // Nothing in a body we cannot read could have been verified, so shape errors are signature errors (400).
  const bad = (message: string) => new AppError('invalid_signature', message, { reason: 'malformed_body' })
  let parsed: unknown
  let text: string
  try {
    text = decoder.decode(body)
    parsed = JSON.parse(text)
  } catch {
    throw bad('body is not UTF-8 JSON')
  }
  // Unsigned fields (additionalData, …) could otherwise carry nesting that breaks storing the item later.
  if (jsonNestingExceeds(text)) throw bad(`body nests deeper than ${MAX_JSON_DEPTH} levels`)
  if (!isObject(parsed) || !Array.isArray(parsed.notificationItems)) {
    // Balance Platform and Management API webhooks sign the whole body into this header instead: said as
    // such, so that an operator who registered one of those here learns why it fails.
    if (headers.has('hmacsignature')) {
      throw new AppError(
        'invalid_signature',
        'Adyen webhooks signed in the HmacSignature header (Balance Platform, Management API) are not supported; only classic notifications are',
        { reason: 'unsupported_webhook_type' },
      )
    }
    throw bad('body is not an Adyen notification')
  }
  if (parsed.notificationItems.length === 0) {
    throw new AppError('invalid_signature', 'notification has no items', { reason: 'no_items' })
  }
  return parsed.notificationItems.map((entry: unknown) => {
    const item = isObject(entry) ? entry.NotificationRequestItem : undefined
    if (!isObject(item)) throw bad('notification item is not a NotificationRequestItem')
    return item
  })
}

const nonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.length > 0

/**
 * A verified item as an event. The id is the widest duplicate key Adyen's own plugin uses
 * (pspReference, eventCode, success, originalReference) plus the merchant account, so a later
 * `success=true` is never dropped as a duplicate of an earlier `success=false`.
 */
function toEvent(item: JsonObject): VerifiedEvent {
  if (!nonEmptyString(item.eventCode) || !nonEmptyString(item.pspReference)) {
    throw new AppError('invalid_event', 'notification item lacks eventCode or pspReference', {
      reason: 'missing_event_fields',
    })
  }
  const id = [
    signedField(item.merchantAccountCode, 'merchantAccountCode'),
    item.pspReference,
    item.eventCode,
    signedField(item.success, 'success'),
    signedField(item.originalReference, 'originalReference'),
  ].join(':')
  // The signed fields hold no lone surrogate (signedField), but may hold U+0000 or be long (see event-key.ts).
  if (!isEventKey(id, MAX_ADYEN_ID_LENGTH) || !isEventKey(item.eventCode, MAX_EVENT_TYPE_LENGTH)) {
    throw new AppError(
      'invalid_event',
      'notification item has an event id or eventCode that cannot be stored',
      {
        reason: 'unusable_event_fields',
      },
    )
  }
  const occurredAt = providerTime(item.eventDate)
  return {
    provider: 'adyen',
    id,
    type: item.eventCode,
    payload: item,
    ...(occurredAt ? { occurredAt } : {}),
  }
}

const BASIC_CHALLENGE = { 'WWW-Authenticate': 'Basic realm="hookinbox"' }

/**
 * Builds the Basic-auth check. Both sides are reduced to an HMAC under a random per-process key before
 * `timingSafeEqual`, so the comparison takes the same time whatever the length or content of the guess.
 */
function basicAuthCheck(
  credentials: BasicCredentials,
  previous: BasicCredentials | undefined,
): (headers: Headers) => 'current' | 'previous' {
  const macKey = randomBytes(32)
  const digest = (value: Buffer) => createHmac('sha256', macKey).update(value).digest()
  const expectedDigest = (c: BasicCredentials) => digest(Buffer.from(`${c.user}:${c.password}`, 'utf8'))
  const expected = expectedDigest(credentials)
  const expectedPrevious = previous ? expectedDigest(previous) : undefined
  return (headers) => {
    const header = headers.get('authorization')
    const match = header === null ? null : /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(header)
    if (!match?.[1]) {
      throw new AppError('unauthorized', 'basic authentication required', {
        reason: 'missing_basic_auth',
        headers: BASIC_CHALLENGE,
      })
    }
    const offered = digest(Buffer.from(match[1], 'base64'))
    // Both compared every time, so the time taken does not tell which one a guess came close to.
    const isCurrent = timingSafeEqual(offered, expected)
    const isPrevious = expectedPrevious !== undefined && timingSafeEqual(offered, expectedPrevious)
    if (isCurrent) return 'current'
    if (isPrevious) return 'previous'
    throw new AppError('unauthorized', 'basic authentication failed', {
      reason: 'bad_basic_auth',
      headers: BASIC_CHALLENGE,
    })
  }
}

export function createAdyenProvider(opts: AdyenProviderOptions): Provider {
  if (opts.hmacKeys.length === 0 || opts.hmacKeys.some((key) => key.length === 0)) {
    throw new Error('Adyen provider: at least one non-empty HMAC key is required')
  }
  const keys = [...opts.hmacKeys]
  if (opts.previousBasicAuth && !opts.basicAuth) {
    throw new Error('Adyen provider: previous Basic credentials are only accepted beside current ones')
  }
  const checkBasicAuth = opts.basicAuth ? basicAuthCheck(opts.basicAuth, opts.previousBasicAuth) : undefined

  return {
    name: 'adyen',
    acceptedBody: '[accepted]',
    async verify(delivery: RawDelivery): Promise<VerifiedEvent[]> {
      const credentials = checkBasicAuth?.(delivery.headers)
      const items = notificationItems(delivery.body, delivery.headers)
      // Adyen accepts or retries a whole request, so one bad item rejects them all: verify every item
      // before building any event.
      for (const item of items) verifyItem(item, keys)
      const events = items.map(toEvent)
      return credentials === 'previous' ? events.map((e) => ({ ...e, previousBasicAuth: true })) : events
    },
  }
}
