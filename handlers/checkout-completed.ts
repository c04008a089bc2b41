/**
 * Example: remember every paid Stripe Checkout session in our own table. The insert runs in the same
 * transaction as the event's "seen" mark, so a retried delivery can never insert it twice.
 * `event.payload` is the stripe package's own `Stripe.CheckoutSessionCompletedEvent`.
 */
import { defineHandler } from '../src/handlers.ts'
import { paidCheckouts } from './_schema.ts'

export default defineHandler({
  provider: 'stripe',
  events: ['checkout.session.completed'],
  async handle(event, ctx) {
    const session = event.payload.data.object
    if (session.payment_status === 'unpaid') {
      ctx.log.info({ session: session.id }, 'checkout completed but not paid yet; waiting for async payment')
      return
    }
    await ctx.tx
      .insert(paidCheckouts)
      .values({
        sessionId: session.id,
        customerEmail: session.customer_details?.email ?? null,
        amountTotal: session.amount_total ?? null,
        currency: session.currency ?? null,
        paidAt: new Date(event.payload.created * 1000),
      })
      // Stripe can emit two distinct events for one session; the session id is the business key.
      .onConflictDoNothing()
  },
})
