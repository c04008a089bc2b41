/**
 * Example: one refunds ledger fed by all three providers. An array export registers several handlers from
 * one file; each is named after the file (`refunds#1`, `refunds#2`, …) unless it names itself.
 */
import { defineHandler } from '../src/handlers.ts'
import { refunds } from './_schema.ts'

export default [
  defineHandler<{ data: { object: { id: string; amount_refunded?: number; currency?: string } } }>({
    name: 'stripe-refunds',
    provider: 'stripe',
    events: ['charge.refunded'],
    async handle(event, ctx) {
      const charge = event.payload.data.object
      await ctx.tx.insert(refunds).values({
        provider: 'stripe',
        reference: charge.id,
        amountMinor: charge.amount_refunded ?? null,
        currency: charge.currency ?? null,
        recordedAt: event.receivedAt,
      })
    },
  }),
  defineHandler<{ resource?: { id?: string; amount?: { value?: string; currency_code?: string } } }>({
    name: 'paypal-refunds',
    provider: 'paypal',
    events: ['PAYMENT.CAPTURE.REFUNDED'],
    async handle(event, ctx) {
      const amount = event.payload.resource?.amount
      await ctx.tx.insert(refunds).values({
        provider: 'paypal',
        reference: event.payload.resource?.id ?? event.id,
        amountMinor: amount?.value ? Math.round(Number(amount.value) * 100) : null,
        currency: amount?.currency_code ?? null,
        recordedAt: event.receivedAt,
      })
    },
  }),
  defineHandler<{ pspReference: string; success: string; amount?: { value?: number; currency?: string } }>({
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
