/**
 * Example: one refunds ledger fed by all three providers. An array export registers several handlers from
 * one file; each is named after the file (`refunds#1`, `refunds#2`, …) unless it names itself.
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

export default [
  defineHandler({
    name: 'stripe-refunds',
    provider: 'stripe',
    events: ['charge.refunded'],
    async handle(event, ctx) {
      const charge = event.payload.data.object
      await ctx.tx.insert(refunds).values({
        provider: 'stripe',
        reference: charge.id,
        amountMinor: charge.amount_refunded,
        currency: charge.currency,
        recordedAt: event.receivedAt,
      })
    },
  }),
  defineHandler({
    name: 'paypal-refunds',
    provider: 'paypal',
    events: ['PAYMENT.CAPTURE.REFUNDED'],
    async handle(event, ctx) {
      // PayPal's `resource` depends on the event type: read it defensively.
      const resource = event.payload.resource as {
        id?: string
        amount?: { value?: unknown; currency_code?: unknown }
      }
      const currency = typeof resource.amount?.currency_code === 'string' ? resource.amount.currency_code : ''
      // A decimal string in the currency's major unit: "100" JPY is 100 yen, "1.234" KWD is 1234 fils.
      const amountMinor = minorUnits(resource.amount?.value, currency)
      await ctx.tx.insert(refunds).values({
        provider: 'paypal',
        reference: resource.id ?? event.id,
        amountMinor,
        currency,
        recordedAt: event.receivedAt,
      })
    },
  }),
  defineHandler({
    name: 'adyen-refunds',
    provider: 'adyen',
    events: ['REFUND'],
    async handle(event, ctx) {
      if (event.payload.success !== 'true') return
      await ctx.tx.insert(refunds).values({
        provider: 'adyen',
        reference: event.payload.pspReference,
        amountMinor: event.payload.amount?.value ?? null,
        currency: event.payload.amount?.currency ?? null,
        recordedAt: event.receivedAt,
      })
    },
  }),
]
