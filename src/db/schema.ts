/**
 * The single source of truth for hookinbox's own tables (SQLite). drizzle-kit generates the migrations in
 * `drizzle/sqlite/` from this file plus `handlers/_schema.ts` (the users' own tables); they are applied at
 * start-up. Times are stored as Unix milliseconds.
 */
import { sql } from 'drizzle-orm'
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core'

export const EVENT_STATUSES = ['processed', 'ignored', 'failed', 'parked'] as const
export type EventStatus = (typeof EVENT_STATUSES)[number]

export const events = sqliteTable(
  'hookinbox_events',
  {
    /** Arrival order; also the keyset for paging the history. */
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    provider: text('provider').notNull(),
    eventId: text('event_id').notNull(),
    type: text('type').notNull(),
    status: text('status', { enum: EVENT_STATUSES }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    /** The verified JSON text of the event; pruned after the retention period. */
    payload: text('payload'),
    receivedAt: integer('received_at', { mode: 'timestamp_ms' }).notNull(),
    processedAt: integer('processed_at', { mode: 'timestamp_ms' }),
    occurredAt: integer('occurred_at', { mode: 'timestamp_ms' }),
    lastError: text('last_error'),
    /** JSON array of the handler names that ran in the committed attempt. */
    handlers: text('handlers'),
    duplicates: integer('duplicates').notNull().default(0),
    lastSeenAt: integer('last_seen_at', { mode: 'timestamp_ms' }),
  },
  // Every admin filter has an index that yields rows newest first, so the first page of the history stays
  // fast however many events there are. The unique key leads with event_id so an id prefix search uses it.
  (t) => [
    uniqueIndex('hookinbox_events_event_id_provider').on(t.eventId, t.provider),
    index('hookinbox_events_status_seq').on(t.status, t.seq),
    index('hookinbox_events_provider_seq').on(t.provider, t.seq),
    index('hookinbox_events_type_seq').on(t.type, t.seq),
    index('hookinbox_events_received_at').on(t.receivedAt),
  ],
)

/** One row per delivery attempt that ran (or tried to run) handlers. */
export const attempts = sqliteTable(
  'hookinbox_attempts',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    eventSeq: integer('event_seq')
      .notNull()
      .references(() => events.seq, { onDelete: 'cascade' }),
    at: integer('at', { mode: 'timestamp_ms' }).notNull(),
    outcome: text('outcome', { enum: EVENT_STATUSES }).notNull(),
    durationMs: integer('duration_ms').notNull(),
    error: text('error'),
    /** `delivery` (from the provider) or `replay` (an operator's). */
    trigger: text('trigger').notNull().default(sql`'delivery'`),
  },
  (t) => [index('hookinbox_attempts_event_seq').on(t.eventSeq)],
)

/** Deliveries refused before the inbox (bad signature, …), counted per minute for the admin stats. */
export const rejections = sqliteTable(
  'hookinbox_rejections',
  {
    provider: text('provider').notNull(),
    reason: text('reason').notNull(),
    /** Unix minute (ms / 60000). */
    minute: integer('minute').notNull(),
    count: integer('count').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.provider, t.reason, t.minute] }),
    index('hookinbox_rejections_minute').on(t.minute),
  ],
)

/**
 * Events per provider and status, kept in the same transactions that change them, so the admin stats and
 * /metrics never count millions of rows. Spread over a few shards per key so that, on PostgreSQL,
 * concurrent transactions rarely wait for the same row; readers add the shards up.
 */
export const statusCounts = sqliteTable(
  'hookinbox_status_counts',
  {
    provider: text('provider').notNull(),
    status: text('status', { enum: EVENT_STATUSES }).notNull(),
    shard: integer('shard').notNull(),
    n: integer('n').notNull(),
  },
  (t) => [primaryKey({ columns: [t.provider, t.status, t.shard] })],
)

/** The newest provider time applied per object, for `ctx.isStale` (out-of-order events). */
export const objectVersions = sqliteTable(
  'hookinbox_object_versions',
  {
    provider: text('provider').notNull(),
    objectKey: text('object_key').notNull(),
    occurredAt: integer('occurred_at', { mode: 'timestamp_ms' }).notNull(),
    eventId: text('event_id').notNull(),
  },
  (t) => [primaryKey({ columns: [t.provider, t.objectKey] })],
)

/**
 * Signed transmissions whose signature does not protect the body on its own: PayPal signs only a CRC-32 of
 * it, and anyone holding one genuine delivery can write another body with the same CRC. The first body seen
 * under each transmission id is kept here by its SHA-256, in the same transaction as the event, so the same
 * signed headers can never bring a different body. Kept as long as event ids (DEDUP_KEEP_DAYS).
 */
export const transmissions = sqliteTable(
  'hookinbox_transmissions',
  {
    provider: text('provider').notNull(),
    transmissionId: text('transmission_id').notNull(),
    bodySha256: text('body_sha256').notNull(),
    /** When it arrived or, if later, when it was signed: retention keeps the binding from then. */
    receivedAt: integer('received_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.provider, t.transmissionId] }),
    index('hookinbox_transmissions_received_at').on(t.receivedAt),
  ],
)

/** PayPal signing certificates by URL, so a restart does not fetch them again. */
export const paypalCerts = sqliteTable('hookinbox_paypal_certs', {
  url: text('url').primaryKey(),
  pem: text('pem').notNull(),
  fetchedAt: integer('fetched_at', { mode: 'timestamp_ms' }).notNull(),
})
