/**
 * Example: one refunds ledger fed by all three providers, one row per refund, keyed by the refund's own id
 * at its provider (`refundId`, unique per provider). A re-delivered event is a duplicate that hookinbox never
 * runs twice; another event about a refund already recorded (Stripe's `refund.updated` after its
 * `refund.created`, say), or a re-delivery after hookinbox has forgotten the event's id, inserts nothing, by
 * `onConflictDoNothing` on that key. An array export registers several handlers from one file; each is named
 * after the file (`refunds#1`, `refunds#2`, …) unless it names itself.
 *
 * Amounts are in minor units as each provider counts them: Stripe's and Adyen's as they send them, PayPal's
 * decimal strings converted with ISO 4217's exponent (`minorUnits` below). For a few currencies providers
 * count differently (Adyen gives CLP and ISK two decimals, ISO 4217 none), so add up amounts per provider.
 *
 * A refund is recorded when its provider reports it done. One that fails afterwards (Stripe's
 * `refund.failed`, Adyen's `REFUND_FAILED`) is not taken back here: subscribe to those if your ledger must.
 */
import { defineHandler, PermanentError } from '../src/handlers.ts'
import { refunds } from './_schema.ts'

/**
 * ISO 4217's minor units of the currencies where they are not 2 (cents). Not `Intl.NumberFormat`'s
 * `maximumFractionDigits`: that is CLDR's display precision, which differs from ISO 4217 for several
 * currencies (Node 20 gives HUF, IDR and COP 0 where ISO 4217 has 2, IQD 0 where it has 3), and PayPal
 * takes HUF.
 */
const ISO_4217_MINOR_UNITS = new Map<string, number>([
  ...'BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF'
    .split(' ')
    .map((c) => [c, 0] as const),
  ...'BHD IQD JOD KWD LYD OMR TND'.split(' ').map((c) => [c, 3] as const),
  ...'CLF UYW'.split(' ').map((c) => [c, 4] as const),
])
/** The currency codes this Node knows (ICU's list of ISO 4217 codes): any other is refused, not guessed. */
const KNOWN_CURRENCIES = new Set(Intl.supportedValuesOf('currency'))

/**
 * A decimal amount (PayPal's `"10.50"`) in the currency's minor units, exactly: read as text, never through
 * floating point. Anything it cannot convert exactly (not a plain decimal, more fraction digits than the
 * currency has, an unknown currency) is refused with a PermanentError: the event is parked at once,
 * with this message, nothing of it is recorded, and after a fix a replay records it. Storing a null or
 * rounded amount instead would leave a ledger whose total is silently wrong; retrying (a plain Error)
 * cannot help either, as the provider resends the same amount.
 */
function minorUnits(value: unknown, currency: string): number {
  const code = currency.toUpperCase()
  const exponent = ISO_4217_MINOR_UNITS.get(code) ?? (KNOWN_CURRENCIES.has(code) ? 2 : undefined)
  if (exponent === undefined) throw new PermanentError(`unknown currency ${JSON.stringify(currency)}`)
  const parts = typeof value === 'string' ? /^(\d+)(?:\.(\d+))?$/.exec(value) : null
  if (!parts) throw new PermanentError(`amount ${JSON.stringify(value)} is not a plain decimal number`)
  const [, whole = '', fraction = ''] = parts
  if (fraction.length > exponent) {
    throw new PermanentError(
      `amount ${value} ${code} has more decimals than ${code}'s ${exponent} (ISO 4217)`,
    )
  }
  const minor = Number(whole + fraction.padEnd(exponent, '0'))
  if (!Number.isSafeInteger(minor)) throw new PermanentError(`amount ${value} ${code} is too large`)
  return minor
}

/** The id of an expandable Stripe field (an id, or the object when expanded). */
const idOf = (field: string | { id: string } | null) => (typeof field === 'string' ? field : field?.id)

export default [
  defineHandler({
    name: 'stripe-refunds',
    provider: 'stripe',
    // The refund's own events, each carrying the refund: its id and its own amount. Not `charge.refunded`:
    // its charge carries only the cumulative `amount_refunded`, so a row per event counted the first of two
    // partial refunds twice, and a row per charge would lose each refund's id and amount, and could be set
    // back by an older event that arrives late.
    events: ['refund.created', 'refund.updated'],
    async handle(event, ctx) {
      const refund = event.payload.data.object
      // Recorded once it has succeeded, as most card refunds have when created; a `pending` one is recorded
      // by the `refund.updated` that says it succeeded; one that fails or is canceled first, never.
      if (refund.status !== 'succeeded') return
      await ctx.tx
        .insert(refunds)
        .values({
          provider: 'stripe',
          reference: idOf(refund.charge) ?? idOf(refund.payment_intent) ?? refund.id,
          refundId: refund.id,
          amountMinor: refund.amount,
          currency: refund.currency,
          recordedAt: event.receivedAt,
        })
        .onConflictDoNothing({ target: [refunds.provider, refunds.refundId] })
    },
  }),
  defineHandler({
    name: 'paypal-refunds',
    provider: 'paypal',
    events: ['PAYMENT.CAPTURE.REFUNDED'],
    async handle(event, ctx) {
      // PayPal's `resource` depends on the event type: read it defensively. Here it is the refund.
      const resource = event.payload.resource as {
        id?: unknown
        amount?: { value?: unknown; currency_code?: unknown }
        links?: Array<{ rel?: string; href?: string }>
      }
      if (typeof resource.id !== 'string' || resource.id === '') {
        throw new PermanentError("PAYMENT.CAPTURE.REFUNDED without the refund's id")
      }
      const currency = typeof resource.amount?.currency_code === 'string' ? resource.amount.currency_code : ''
      // A decimal string in the currency's major unit: "100" JPY is 100 yen, "1.234" KWD is 1234 fils.
      const amountMinor = minorUnits(resource.amount?.value, currency)
      // The capture refunded is the refund's "up" link, …/v2/payments/captures/{id} (without one, the
      // refund's own id stands in).
      const capture = resource.links
        ?.find((l) => l.rel === 'up')
        ?.href?.split('/')
        .pop()
      await ctx.tx
        .insert(refunds)
        .values({
          provider: 'paypal',
          reference: capture || resource.id,
          refundId: resource.id,
          amountMinor,
          currency,
          recordedAt: event.receivedAt,
        })
        .onConflictDoNothing({ target: [refunds.provider, refunds.refundId] })
    },
  }),
  defineHandler({
    name: 'adyen-refunds',
    provider: 'adyen',
    events: ['REFUND'],
    async handle(event, ctx) {
      // success is the string 'false' when Adyen could not make the refund.
      if (event.payload.success !== 'true') return
      // Adyen's amount is in minor units already.
      const { amount } = event.payload
      if (!amount) throw new PermanentError('REFUND without its amount')
      await ctx.tx
        .insert(refunds)
        .values({
          provider: 'adyen',
          // Each refund has its own pspReference; originalReference is the payment's.
          reference: event.payload.originalReference ?? event.payload.pspReference,
          refundId: event.payload.pspReference,
          amountMinor: amount.value,
          currency: amount.currency,
          recordedAt: event.receivedAt,
        })
        .onConflictDoNothing({ target: [refunds.provider, refunds.refundId] })
    },
  }),
]
