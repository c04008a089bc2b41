/**
 * Example: keep each Stripe subscription's latest state, although Stripe does not deliver events in order
 * (an `updated` may arrive before its `created`, or an old `updated` after a newer one). `ctx.isStale`
 * remembers, inside the transaction, the newest event time applied per subscription and tells this handler
 * to skip an event older than that.
 */
import { defineHandler } from '../src/handlers.ts'
import { subscriptions } from './_schema.ts'

export default defineHandler({
  provider: 'stripe',
  events: ['customer.subscription.created', 'customer.subscription.updated', 'customer.subscription.deleted'],
  async handle(event, ctx) {
    const subscription = event.payload.data.object
    const occurredAt = new Date(event.payload.created * 1000)
    if (await ctx.isStale(`subscription:${subscription.id}`, occurredAt)) {
      ctx.log.info({ subscription: subscription.id }, 'older than the state already applied; skipped')
      return
    }
    const status = event.type === 'customer.subscription.deleted' ? 'canceled' : subscription.status
    await ctx.tx
      .insert(subscriptions)
      .values({ id: subscription.id, status, updatedAt: occurredAt })
      .onConflictDoUpdate({ target: subscriptions.id, set: { status, updatedAt: occurredAt } })
  },
})
