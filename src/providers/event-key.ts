/**
 * An event's id and type are what it is stored under, deduplicated by and found again by, so they must be
 * text that every store keeps exactly as given. Two kinds of JSON string are not, though a signed body may
 * hold them:
 * - a lone UTF-16 surrogate (`"\ud800"` is valid JSON) has no UTF-8 form. SQLite keeps its bytes, which read
 *   back as U+FFFD: the event is listed under another id and can be neither opened nor replayed. node-postgres
 *   writes U+FFFD, so two different ids become one, and the second event is acknowledged as a duplicate of
 *   the first without ever being recorded.
 * - U+0000: PostgreSQL's text cannot hold it; the insert fails, and every retry is answered 503 for good.
 *
 * Their length is bounded for the same reason: PostgreSQL refuses an index entry over 2704 bytes (the id is a
 * unique key, the type is indexed), so a longer id or type was answered 503 at every retry. A UTF-16 code
 * unit is at most 3 bytes of UTF-8.
 */

/** Stripe's and PayPal's ids are far shorter. */
export const MAX_EVENT_ID_LENGTH = 255
/** Adyen's id joins five fields of an item (merchant account, pspReference, eventCode, success, originalReference). */
export const MAX_ADYEN_ID_LENGTH = 512
/** The admin API filters on types of up to this length, too. */
export const MAX_EVENT_TYPE_LENGTH = 255

/** A UTF-16 surrogate without its partner. */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Whether `value` can be an event's id or type: a string of 1 to `maxLength` characters every store keeps. */
export function isEventKey(value: unknown, maxLength: number): value is string {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= maxLength &&
    !value.includes('\u0000') &&
    !LONE_SURROGATE.test(value)
  )
}
