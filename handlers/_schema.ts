/**
 * Your own tables, written to by your handlers inside the event's transaction. drizzle-kit reads this file
 * together with hookinbox's schema, so `npm run db:generate` writes the migrations for both into
 * `drizzle/sqlite/`, and they are applied at start-up. Files starting with `_` are not loaded as handlers.
 */
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'

/** Example: one row per paid Stripe Checkout session (see `checkout-completed.ts`). */
export const paidCheckouts = sqliteTable('paid_checkouts', {
  sessionId: text('session_id').primaryKey(),
  customerEmail: text('customer_email'),
  amountTotal: integer('amount_total'),
  currency: text('currency'),
  paidAt: integer('paid_at', { mode: 'timestamp_ms' }).notNull(),
})

/** Example: a ledger of refunds across providers (see `refunds.ts`). */
export const refunds = sqliteTable('refunds', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  provider: text('provider').notNull(),
  reference: text('reference').notNull(),
  amountMinor: integer('amount_minor'),
  currency: text('currency'),
  recordedAt: integer('recorded_at', { mode: 'timestamp_ms' }).notNull(),
})

/** Example: each Stripe subscription's latest status (see `subscriptions.ts`). */
export const subscriptions = sqliteTable('subscriptions', {
  id: text('id').primaryKey(),
  status: text('status').notNull(),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
})
