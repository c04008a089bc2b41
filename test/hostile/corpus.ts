/**
 * The hostile-input corpus (test/fixtures/hostile/cases.json): its types, and how one case becomes the exact
 * request sent to one provider route. The README beside the corpus describes the format.
 */
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { signWithAdyenLibrary } from '../providers/adyen-fixtures.ts'
import {
  ADYEN_BASIC,
  ADYEN_KEY,
  type HostileService,
  type ProviderName,
  paypalHeaders,
  pki,
  type RawRequest,
  stripeSign,
} from './support.ts'

const FIXTURES = new URL('../fixtures/hostile/', import.meta.url)

export type BodySpec = { text: string } | { file: string } | { hex: string }

export interface Expect {
  status: number
  /** The reason of the `delivery rejected` log line (what metrics and the admin stats count). */
  reason?: string
  /** For a 2xx: the event id that must now be recorded. */
  eventId?: string
  /** Event ids that must not be recorded afterwards. */
  notRecorded?: string[]
  /** Answered by Node's HTTP parser before the app runs: no JSON body, no log line. */
  nodeLevel?: boolean
  /** PayPal: whether the allowed certificate host may be contacted. Decoys never may. */
  certHost?: 'untouched' | 'contacted'
}

export interface Case {
  name: string
  providers?: ProviderName[]
  special?: 'oversized-declared' | 'oversized-chunked' | 'slow-body' | 'slow-headers'
  body?: BodySpec | Partial<Record<ProviderName, BodySpec>>
  sign?: boolean | 'wrong-key'
  deep?: { levels: number; kind: 'array' | 'object' }
  truncate?: number
  bom?: boolean
  stripeTimestamp?: number | string
  paypalCertUrl?: string
  adyenSignatureSuffix?: string
  adyenItems?: number
  path?: string
  method?: string
  headerNameCase?: 'upper' | 'lower' | 'mixed'
  set?: Array<[string, string]>
  add?: Array<[string, string]>
  addRepeated?: { count: number; header: [string, string] }
  remove?: string[]
  sendTwice?: boolean
  expect: Expect | Partial<Record<ProviderName, Expect>>
}

export const loadCases = (): Case[] => JSON.parse(readFileSync(new URL('cases.json', FIXTURES), 'utf8'))

const isPerProvider = <T extends object>(value: T | Partial<Record<ProviderName, T>>): boolean =>
  'stripe' in value || 'paypal' in value || 'adyen' in value

export function expectationFor(c: Case, provider: ProviderName): Expect {
  const e = isPerProvider(c.expect) ? (c.expect as Partial<Record<ProviderName, Expect>>)[provider] : c.expect
  if (!e) throw new Error(`case "${c.name}" has no expectation for ${provider}`)
  return e as Expect
}

const DEFAULT_BODY: Record<ProviderName, BodySpec> = {
  stripe: { file: 'stripe-event.json' },
  paypal: { file: 'paypal-event.json' },
  adyen: { file: 'adyen-notification.json' },
}

function bodySpec(c: Case, provider: ProviderName): BodySpec {
  if (!c.body) return DEFAULT_BODY[provider]
  if (isPerProvider(c.body)) {
    const spec = (c.body as Partial<Record<ProviderName, BodySpec>>)[provider]
    if (!spec) throw new Error(`case "${c.name}" has no body for ${provider}`)
    return spec
  }
  return c.body as BodySpec
}

function readSpec(spec: BodySpec): Buffer {
  if ('text' in spec) return Buffer.from(spec.text, 'utf8')
  if ('hex' in spec) return Buffer.from(spec.hex.replace(/\s+/g, ''), 'hex')
  return readFileSync(new URL(`bodies/${spec.file}`, FIXTURES))
}

const deepValue = (levels: number, kind: 'array' | 'object') =>
  kind === 'array'
    ? `${'['.repeat(levels)}${']'.repeat(levels)}`
    : `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`

/** Replaces every occurrence of `marker` in `bytes` with `replacement` (byte level). */
function replaceBytes(bytes: Buffer, marker: string, replacement: Buffer): Buffer {
  const parts: Buffer[] = []
  let at = 0
  for (let i = bytes.indexOf(marker, at); i !== -1; i = bytes.indexOf(marker, at)) {
    parts.push(bytes.subarray(at, i), replacement)
    at = i + marker.length
  }
  parts.push(bytes.subarray(at))
  return Buffer.concat(parts)
}

/** Signs every item whose hmacSignature is the `__HMAC__` placeholder, in order, with Adyen's own library. */
function signAdyenItems(text: string, hexKey: string, suffix = ''): string {
  let parsed: unknown
  try {
    // Placeholders outside the signed fields do not change the signatures.
    parsed = JSON.parse(text.replaceAll('__DEEP__', '0').replaceAll('__INVALID_UTF8__', 'x'))
  } catch {
    return text
  }
  const entries = (parsed as { notificationItems?: unknown }).notificationItems
  if (!Array.isArray(entries)) return text
  const signatures: string[] = []
  for (const entry of entries) {
    const item = (entry as { NotificationRequestItem?: Record<string, unknown> } | null)
      ?.NotificationRequestItem
    const data = item?.additionalData as Record<string, unknown> | undefined
    if (item && data?.hmacSignature === '__HMAC__')
      signatures.push(signWithAdyenLibrary(item, hexKey) + suffix)
  }
  let i = 0
  return text.replace(/__HMAC__/g, (placeholder) => signatures[i++] ?? placeholder)
}

function manyAdyenItems(count: number, unique: string): Buffer {
  const items = Array.from({ length: count }, (_, n) => ({
    NotificationRequestItem: {
      amount: { value: n, currency: 'EUR' },
      eventCode: 'AUTHORISATION',
      merchantAccountCode: 'TestMerchant',
      merchantReference: `bulk-${n}`,
      pspReference: `${unique}-${n}`,
      success: 'true',
      additionalData: { hmacSignature: randomBytes(32).toString('base64') },
    },
  }))
  return Buffer.from(JSON.stringify({ live: 'false', notificationItems: items }))
}

export interface Built {
  request: RawRequest
  /** Signature values that were sent: they must not come back in an answer. */
  sentSignatures: string[]
  unique: string
}

/** Fills `{{…}}` placeholders of header values, paths and URLs. */
export function fill(template: string, vars: Record<string, string>): string {
  return template.replace(/\{\{([^}]+)\}\}/g, (whole, expr: string) => {
    const repeat = /^repeat:(\d+):(.*)$/s.exec(expr)
    if (repeat) return (repeat[2] ?? '').repeat(Number(repeat[1]))
    const value = vars[expr]
    if (value === undefined) throw new Error(`unknown placeholder ${whole}`)
    return value
  })
}

function renameCase(name: string, mode: Case['headerNameCase']): string {
  if (mode === 'upper') return name.toUpperCase()
  if (mode === 'lower') return name.toLowerCase()
  if (mode === 'mixed')
    return [...name].map((ch, i) => (i % 2 ? ch.toLowerCase() : ch.toUpperCase())).join('')
  return name
}

function stripeTimestamp(spec: Case['stripeTimestamp']): number {
  const now = Math.floor(Date.now() / 1000)
  if (spec === undefined || spec === 'now') return now
  if (typeof spec === 'number') return spec
  const m = /^now([+-])(\d+)$/.exec(spec)
  if (!m) throw new Error(`bad stripeTimestamp ${spec}`)
  return m[1] === '+' ? now + Number(m[2]) : now - Number(m[2])
}

/** The exact request one case sends to one provider route. */
export function buildRequest(c: Case, provider: ProviderName, env: HostileService, unique: string): Built {
  const certHost = env.certHost.host
  const vars: Record<string, string> = {
    certHost,
    certPort: String(env.certHost.port),
    decoyPort: String(env.decoy4.port),
    decoy6Port: String((env.decoy6 ?? env.decoy4).port),
    basic: ADYEN_BASIC,
  }

  let text = readSpec(bodySpec(c, provider))
  text = replaceBytes(text, '__UNIQUE__', Buffer.from(unique))
  if (c.deep) text = replaceBytes(text, '__DEEP__', Buffer.from(deepValue(c.deep.levels, c.deep.kind)))
  if (provider === 'adyen' && c.adyenItems) text = manyAdyenItems(c.adyenItems, unique)
  if (provider === 'adyen' && c.sign) {
    const key = c.sign === 'wrong-key' ? randomBytes(32).toString('hex') : ADYEN_KEY
    text = Buffer.from(signAdyenItems(text.toString('utf8'), key, c.adyenSignatureSuffix))
  }
  let body = replaceBytes(text, '__INVALID_UTF8__', Buffer.from([0xff, 0xfe, 0x80]))
  if (c.bom) body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), body])
  // Stripe and PayPal sign the bytes that are sent; Adyen's signatures live inside the body, made above.
  if (c.truncate) body = body.subarray(0, Math.max(0, body.length - c.truncate))

  const sentSignatures: string[] = []
  let headers: Array<[string, string]> = [['Content-Type', 'application/json']]
  if (provider === 'stripe') {
    const secret = c.sign === 'wrong-key' ? 'whsec_not_the_configured_secret' : undefined
    const { t, v1 } = stripeSign(body, stripeTimestamp(c.stripeTimestamp), secret)
    Object.assign(vars, { t: String(t), v1, V1: v1.toUpperCase() })
    sentSignatures.push(v1)
    if (c.sign) headers.push(['Stripe-Signature', `t=${t},v1=${v1}`])
  } else if (provider === 'paypal') {
    const certUrl = fill(c.paypalCertUrl ?? `https://${certHost}/v1/notifications/certs/CERT-test`, vars)
    const signed = paypalHeaders(body, certUrl, c.sign === 'wrong-key' ? pki.wrongSubjectKey : pki.signingKey)
    const sig = signed.find(([n]) => n === 'PAYPAL-TRANSMISSION-SIG')?.[1] ?? ''
    vars.sig = sig
    sentSignatures.push(sig)
    if (c.sign) headers.push(...signed)
  } else {
    headers.push(['Authorization', ADYEN_BASIC])
  }
  headers.push(['Content-Length', String(body.length)])

  const lower = (n: string) => n.toLowerCase()
  if (c.remove) headers = headers.filter(([n]) => !c.remove?.map(lower).includes(lower(n)))
  for (const [name, value] of c.set ?? []) {
    headers = headers.filter(([n]) => lower(n) !== lower(name))
    headers.push([name, fill(value, vars)])
  }
  for (const [name, value] of c.add ?? []) headers.push([name, fill(value, vars)])
  if (c.addRepeated) {
    const [name, value] = c.addRepeated.header
    for (let i = 0; i < c.addRepeated.count; i++) headers.push([`${name}-${i}`, value])
  }
  if (c.headerNameCase) headers = headers.map(([n, v]) => [renameCase(n, c.headerNameCase), v])

  return {
    request: {
      method: c.method ?? 'POST',
      path: fill(c.path ?? `/webhooks/${provider}`, vars),
      headers,
      body,
    },
    sentSignatures,
    unique,
  }
}
