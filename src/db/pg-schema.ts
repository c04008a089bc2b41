/**
 * hookinbox's tables on PostgreSQL: the same tables, columns and indexes as `schema.ts` (SQLite), in
 * PostgreSQL's types. drizzle-kit generates `drizzle/pg/` from this file plus `handlers/_schema.pg.ts`.
 */
import { sql } from 'drizzle-orm'
import {
  bigint,
  bigserial,
  index,
  integer,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core'
import { EVENT_STATUSES } from './schema.ts'

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' })

export const events = pgTable(
  'hookinbox_events',
  {
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    provider: text('provider').notNull(),
    eventId: text('event_id').notNull(),
    type: text('type').notNull(),
    status: text('status', { enum: EVENT_STATUSES }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    payload: text('payload'),
    receivedAt: at('received_at').notNull(),
    processedAt: at('processed_at'),
    occurredAt: at('occurred_at'),
    lastError: text('last_error'),
    handlers: text('handlers'),
    duplicates: integer('duplicates').notNull().default(0),
    lastSeenAt: at('last_seen_at'),
  },
  (t) => [
    uniqueIndex('hookinbox_events_event_id_provider').on(t.eventId, t.provider),
    index('hookinbox_events_status_seq').on(t.status, t.seq),
    index('hookinbox_events_provider_seq').on(t.provider, t.seq),
    index('hookinbox_events_type_seq').on(t.type, t.seq),
    index('hookinbox_events_received_at').on(t.receivedAt),
  ],
)

export const attempts = pgTable(
  'hookinbox_attempts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    // No foreign key here: drizzle-kit writes it schema-qualified ("public"."hookinbox_events"), which would
    // tie the tables to the public schema. The pruner deletes attempts together with their events.
    eventSeq: bigint('event_seq', { mode: 'number' }).notNull(),
    at: at('at').notNull(),
    outcome: text('outcome', { enum: EVENT_STATUSES }).notNull(),
    durationMs: integer('duration_ms').notNull(),
    error: text('error'),
    trigger: text('trigger').notNull().default(sql`'delivery'`),
  },
  (t) => [index('hookinbox_attempts_event_seq').on(t.eventSeq)],
)

export const rejections = pgTable(
  'hookinbox_rejections',
  {
    provider: text('provider').notNull(),
    reason: text('reason').notNull(),
    minute: integer('minute').notNull(),
    count: integer('count').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.provider, t.reason, t.minute] }),
    index('hookinbox_rejections_minute').on(t.minute),
  ],
)

export const statusCounts = pgTable(
  'hookinbox_status_counts',
  {
    provider: text('provider').notNull(),
    status: text('status', { enum: EVENT_STATUSES }).notNull(),
    shard: integer('shard').notNull(),
    n: bigint('n', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.provider, t.status, t.shard] })],
)

export const objectVersions = pgTable(
  'hookinbox_object_versions',
  {
    provider: text('provider').notNull(),
    objectKey: text('object_key').notNull(),
    occurredAt: at('occurred_at').notNull(),
    eventId: text('event_id').notNull(),
  },
  (t) => [primaryKey({ columns: [t.provider, t.objectKey] })],
)

export const transmissions = pgTable(
  'hookinbox_transmissions',
  {
    provider: text('provider').notNull(),
    transmissionId: text('transmission_id').notNull(),
    bodySha256: text('body_sha256').notNull(),
    receivedAt: at('received_at').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.provider, t.transmissionId] }),
    index('hookinbox_transmissions_received_at').on(t.receivedAt),
  ],
)

export const paypalCerts = pgTable('hookinbox_paypal_certs', {
  url: text('url').primaryKey(),
  pem: text('pem').notNull(),
  fetchedAt: at('fetched_at').notNull(),
})
