/**
 * Example: one refunds ledger fed by all three providers. An array export registers several handlers from
 * one file; each is named after the file (`refunds#1`, `refunds#2`, …) unless it names itself.
 */
import { defineHandler } from '../src/handlers.ts'
import { refunds } from './_schema.ts'

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
        amount?: { value?: string; currency_code?: string }
      }
      await ctx.tx.insert(refunds).values({
        provider: 'paypal',
        reference: resource.id ?? event.id,
        amountMinor: resource.amount?.value ? Math.round(Number(resource.amount.value) * 100) : null,
        currency: resource.amount?.currency_code ?? null,
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
