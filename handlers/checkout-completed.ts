/**
 * Example: remember every paid Stripe Checkout session in our own table. The insert runs in the same
 * transaction as the event's "seen" mark, so a retried delivery can never insert it twice.
 *
 * As Stripe's fulfilment guide says, a session is paid when it completes with `payment_status` `paid` (or
 * `no_payment_required`); with a delayed payment method (SEPA Direct Debit, bank transfer, …) it completes
 * `unpaid` and is paid when `checkout.session.async_payment_succeeded` arrives, often days later. So this
 * handler takes both events. `event.payload` is the stripe package's own type for them
 * (`Stripe.CheckoutSessionCompletedEvent | Stripe.CheckoutSessionAsyncPaymentSucceededEvent`).
 */
import { defineHandler } from '../src/handlers.ts'
import { paidCheckouts } from './_schema.ts'

export default defineHandler({
  provider: 'stripe',
  events: ['checkout.session.completed', 'checkout.session.async_payment_succeeded'],
  async handle(event, ctx) {
    const session = event.payload.data.object
    if (session.payment_status !== 'paid' && session.payment_status !== 'no_payment_required') {
      // A delayed payment method: checkout.session.async_payment_succeeded (or _failed) follows.
      ctx.log.info({ session: session.id, status: session.payment_status }, 'checkout not paid yet')
      return
    }
    await ctx.tx
      .insert(paidCheckouts)
      .values({
        sessionId: session.id,
        customerEmail: session.customer_details?.email ?? null,
        amountTotal: session.amount_total ?? null,
        currency: session.currency ?? null,
        // When it was paid: the completion, or the delayed payment's success.
        paidAt: new Date(event.payload.created * 1000),
      })
      // Stripe can emit two distinct events for one session; the session id is the business key.
      .onConflictDoNothing()
  },
})
