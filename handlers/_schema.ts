/**
 * Your own tables, written to by your handlers inside the event's transaction. drizzle-kit reads this file
 * together with hookinbox's schema, so `npm run db:generate` writes the migrations for both into
 * `drizzle/sqlite/`, and they are applied at start-up. Files starting with `_` are not loaded as handlers.
 */
import { integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'

/** Example: one row per paid Stripe Checkout session (see `checkout-completed.ts`). */
export const paidCheckouts = sqliteTable('paid_checkouts', {
  sessionId: text('session_id').primaryKey(),
  customerEmail: text('customer_email'),
  amountTotal: integer('amount_total'),
  currency: text('currency'),
  paidAt: integer('paid_at', { mode: 'timestamp_ms' }).notNull(),
})

/** Example: a ledger of refunds across providers, one row per refund (see `refunds.ts`). */
export const refunds = sqliteTable(
  'refunds',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    provider: text('provider').notNull(),
    /** What was refunded: Stripe's charge, PayPal's capture, Adyen's payment (originalReference). */
    reference: text('reference').notNull(),
    /**
     * The refund's own id at its provider: Stripe's `re_…`, PayPal's refund id, the refund's Adyen
     * pspReference. Unique per provider, so another event about a refund already recorded adds nothing.
     * Null on rows written before the column existed (their `reference` was the refund's own id for PayPal
     * and Adyen; a Stripe row was the charge with its cumulative amount refunded, once per partial refund).
     * A column of its own, not a unique key on `reference`, because those Stripe rows repeat a charge: a
     * unique index over them would fail its migration, and so the start-up, of a database that holds them.
     */
    refundId: text('refund_id'),
    /** In minor units (cents): see `refunds.ts`. */
    amountMinor: integer('amount_minor'),
    currency: text('currency'),
    recordedAt: integer('recorded_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [uniqueIndex('refunds_provider_refund_id').on(t.provider, t.refundId)],
)

/** Example: each Stripe subscription's latest status (see `subscriptions.ts`). */
export const subscriptions = sqliteTable('subscriptions', {
  id: text('id').primaryKey(),
  status: text('status').notNull(),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
})
