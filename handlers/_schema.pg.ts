/**
 * Your own tables when hookinbox runs on PostgreSQL (DATABASE_URL=postgres://…): the PostgreSQL twin of
 * `_schema.ts`. `npm run db:generate` writes their migrations into `drizzle/pg/`. Handlers written for
 * PostgreSQL import their tables from here; see "Scaling out on PostgreSQL" in the README.
 */
import { bigserial, integer, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core'

export const paidCheckouts = pgTable('paid_checkouts', {
  sessionId: text('session_id').primaryKey(),
  customerEmail: text('customer_email'),
  amountTotal: integer('amount_total'),
  currency: text('currency'),
  paidAt: timestamp('paid_at', { withTimezone: true, mode: 'date' }).notNull(),
})

export const refunds = pgTable(
  'refunds',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    provider: text('provider').notNull(),
    reference: text('reference').notNull(),
    refundId: text('refund_id'),
    amountMinor: integer('amount_minor'),
    currency: text('currency'),
    recordedAt: timestamp('recorded_at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  (t) => [uniqueIndex('refunds_provider_refund_id').on(t.provider, t.refundId)],
)

export const subscriptions = pgTable('subscriptions', {
  id: text('id').primaryKey(),
  status: text('status').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull(),
})
