/**
 * Builds the event a send delivers: a built-in fixture with fresh ids and timestamps, or the user's own file.
 * Every copy of one send (`--repeat`) carries the same event, so the service's de-duplication shows.
 */
import { randomInt } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { ProviderName } from '../providers/provider.ts'
import { UsageError } from './args.ts'
import { readFixture, resolveFixtureType } from './fixtures.ts'

type JsonObject = Record<string, unknown>

export interface PreparedEvent {
  provider: ProviderName
  type: string
  /** The id to show the user (Adyen: the pspReference of each item). */
  id: string
  /** Stripe/PayPal: the event; Adyen: the whole notification, not yet signed. */
  payload: JsonObject
  /** The user's file exactly as written, sent byte for byte when nothing had to change (Stripe/PayPal). */
  verbatim?: string
}

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const DIGITS = '0123456789'
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
const LOWER = 'abcdefghijklmnopqrstuvwxyz'
const pick = (alphabet: string) => alphabet[randomInt(alphabet.length)] as string

/** A random string shaped like `s`: each digit, upper- and lower-case letter replaced by one of its kind. */
export function sameShape(s: string): string {
  return s.replace(/[0-9]/g, () => pick(DIGITS)).replace(/[A-Za-z]/g, (c) => pick(c <= 'Z' ? UPPER : LOWER))
}

/** Stripe ids keep everything up to the last `_` (`evt_`, `cs_test_`), the rest is renewed. */
export function freshStripeId(old: string): string {
  const cut = old.lastIndexOf('_') + 1
  return old.slice(0, cut) + sameShape(old.slice(cut))
}

/** PayPal ids keep their letter prefixes (`WH-`, `I-`, `PP-D-`), the rest is renewed. */
export function freshPaypalId(old: string): string {
  const prefix = /^(?:[A-Z]+-)+/.exec(old)?.[0] ?? ''
  return prefix + sameShape(old.slice(prefix.length))
}

/** Adyen pspReferences are 16 upper-case letters and digits; a report name keeps its shape, new batch number. */
export function freshPspReference(old: string): string {
  const digits = /(\d+)(?!.*\d)/.exec(old)
  if (/^[A-Z0-9]{16}$/.test(old) || !digits) {
    return Array.from({ length: 16 }, () => pick(UPPER + DIGITS)).join('')
  }
  const at = digits.index
  return old.slice(0, at) + sameShape(digits[1] as string) + old.slice(at + (digits[1] as string).length)
}

/** Replaces every occurrence of `from` inside the strings of a JSON value (links and URLs that embed an id). */
function replaceDeep(value: unknown, from: string, to: string): unknown {
  if (from.length < 6 || from === to) return value
  if (typeof value === 'string') return value.split(from).join(to)
  if (Array.isArray(value)) return value.map((v) => replaceDeep(v, from, to))
  if (isObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceDeep(v, from, to)]))
  }
  return value
}

const adyenDate = (now: Date) => now.toISOString().replace(/\.\d{3}Z$/, '+00:00')

/** The event under a new id; links and URLs that embed the old id follow it. */
function withNewId(event: JsonObject, template: string, fresh: (old: string) => string): JsonObject {
  const old = typeof event.id === 'string' && event.id.length > 0 ? event.id : undefined
  const id = fresh(old ?? template)
  return old === undefined ? { ...event, id } : { ...(replaceDeep(event, old, id) as JsonObject), id }
}

function renewStripe(event: JsonObject, now: Date, renewObject: boolean): JsonObject {
  let result = withNewId(event, 'evt_1AaAaAaAaAaAaAaAaAaAaAaA', freshStripeId)
  result.created = Math.floor(now.getTime() / 1000)
  const data = result.data
  if (renewObject && isObject(data) && isObject(data.object) && typeof data.object.id === 'string') {
    // A fresh object too, so handlers keyed on it (one row per checkout session…) accept every send.
    result = replaceDeep(result, data.object.id, freshStripeId(data.object.id)) as JsonObject
  }
  return result
}

function renewPaypal(event: JsonObject, now: Date, renewResource: boolean): JsonObject {
  let result = withNewId(event, 'WH-0AA00000AA0000000-00000000AA0000000', freshPaypalId)
  result.create_time = now.toISOString()
  const resource = result.resource
  if (renewResource && isObject(resource)) {
    const resourceId = typeof resource.id === 'string' ? resource.id : resource.dispute_id
    if (typeof resourceId === 'string') {
      result = replaceDeep(result, resourceId, freshPaypalId(resourceId)) as JsonObject
    }
  }
  return result
}

function adyenItems(notification: JsonObject): JsonObject[] {
  const entries = notification.notificationItems
  if (!Array.isArray(entries)) return []
  return entries.flatMap((entry) =>
    isObject(entry) && isObject(entry.NotificationRequestItem) ? [entry.NotificationRequestItem] : [],
  )
}

function renewAdyen(notification: JsonObject, now: Date, renewDate: boolean): JsonObject {
  const items = adyenItems(notification).map((item) => {
    const old = typeof item.pspReference === 'string' ? item.pspReference : ''
    const fresh = freshPspReference(old)
    // The report URL in `reason` names the report (its pspReference): both change together.
    const renewed: JsonObject = {
      ...((old ? replaceDeep(item, old, fresh) : item) as JsonObject),
      pspReference: fresh,
    }
    if (renewDate) renewed.eventDate = adyenDate(now)
    return renewed
  })
  return {
    ...notification,
    notificationItems: items.map((NotificationRequestItem) => ({ NotificationRequestItem })),
  }
}

function describe(provider: ProviderName, payload: JsonObject): { id: string; type: string } {
  if (provider === 'adyen') {
    const items = adyenItems(payload)
    return {
      id: items.map((i) => String(i.pspReference ?? '?')).join(', '),
      type: [...new Set(items.map((i) => String(i.eventCode ?? '?')))].join(', '),
    }
  }
  const type = provider === 'stripe' ? payload.type : payload.event_type
  return { id: String(payload.id ?? '(no id)'), type: String(type ?? '(no type)') }
}

function renew(provider: ProviderName, payload: JsonObject, now: Date, wholeFixture: boolean): JsonObject {
  if (provider === 'stripe') return renewStripe(payload, now, wholeFixture)
  if (provider === 'paypal') return renewPaypal(payload, now, wholeFixture)
  return renewAdyen(payload, now, wholeFixture)
}

/** A Stripe event and its object as live mode sends them (the fixtures are test-mode, as Stripe's own). */
function liveStripe(event: JsonObject): JsonObject {
  const data = event.data
  if (!isObject(data) || !isObject(data.object) || !('livemode' in data.object))
    return { ...event, livemode: true }
  return { ...event, livemode: true, data: { ...data, object: { ...data.object, livemode: true } } }
}

export function eventFromFixture(
  provider: ProviderName,
  requestedType: string,
  now: Date,
  options: { live?: boolean } = {},
): PreparedEvent {
  const type = resolveFixtureType(provider, requestedType)
  const renewed = renew(provider, readFixture(provider, type), now, true)
  const payload = options.live && provider === 'stripe' ? liveStripe(renewed) : renewed
  return { provider, type, id: describe(provider, payload).id, payload }
}

/** An Adyen file may hold a whole notification, one `{NotificationRequestItem: …}` entry, or a bare item. */
export function asAdyenNotification(value: JsonObject, path: string): JsonObject {
  if (Array.isArray(value.notificationItems)) {
    if (adyenItems(value).length !== value.notificationItems.length || value.notificationItems.length === 0) {
      throw new UsageError(
        `${path}: every entry of notificationItems must be {"NotificationRequestItem": {…}}`,
      )
    }
    return value
  }
  const item = isObject(value.NotificationRequestItem) ? value.NotificationRequestItem : value
  if (typeof item.eventCode !== 'string' && typeof item.pspReference !== 'string') {
    throw new UsageError(
      `${path}: not an Adyen notification: expected a NotificationRequestItem (with eventCode, pspReference…) ` +
        'or a whole notification with notificationItems',
    )
  }
  return { live: 'false', notificationItems: [{ NotificationRequestItem: item }] }
}

export function eventFromFile(
  provider: ProviderName,
  path: string,
  freshId: boolean,
  now: Date,
): PreparedEvent {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new UsageError(code === 'ENOENT' ? `${path}: no such file` : `${path}: cannot read it (${code})`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new UsageError(`${path} is not valid JSON: ${(err as Error).message}`)
  }
  if (!isObject(parsed)) throw new UsageError(`${path} must hold one JSON object (the event)`)

  if (provider === 'adyen') {
    const notification = asAdyenNotification(parsed, path)
    const payload = freshId ? renew(provider, notification, now, false) : notification
    return { provider, ...describe(provider, payload), payload }
  }
  if (freshId) {
    const payload = renew(provider, parsed, now, false)
    return { provider, ...describe(provider, payload), payload }
  }
  return { provider, ...describe(provider, parsed), payload: parsed, verbatim: text }
}
