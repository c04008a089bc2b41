/**
 * The PostgreSQL inbox's hot-path statements, compiled once from Drizzle queries (compiled-pg-query.ts): the
 * SQL comes from the schema, and each delivery only binds values. Timestamps are bound as ISO strings.
 */
import { and, eq, sql } from 'drizzle-orm'
import { pgBuilder as b, compilePgQuery, pgPlaceholder as ps } from '../db/compiled-pg-query.ts'
import { pgEpochMs } from '../db/pg-epoch-ms.ts'
import { attempts, events, statusCounts } from '../db/pg-schema.ts'

const p = sql.placeholder
type Key = { provider: string; eventId: string }

const byKey = and(eq(events.eventId, p('eventId')), eq(events.provider, p('provider')))

/** A settled event's status, read outside any transaction (the duplicate check): [status, attempts]. */
export const lookUpStatus = compilePgQuery<Key>(
  b.select({ status: events.status, attempts: events.attempts }).from(events).where(byKey).limit(1),
)

/** The claim: a new row with the event's key (the lock), or nothing when the key exists: [seq]. */
export const claimEvent = compilePgQuery<Key & Record<string, unknown>>(
  b
    .insert(events)
    .values({
      provider: p('provider'),
      eventId: p('eventId'),
      type: p('type'),
      payload: p('payload'),
      receivedAt: p('receivedAt'),
      occurredAt: p('occurredAt'),
      status: 'failed',
      attempts: 0,
    })
    .onConflictDoNothing({ target: [events.eventId, events.provider] })
    .returning({ seq: events.seq }),
)

/** The stored row, locked: [seq, status, attempts, type, payload, receivedAt, occurredAt]. */
export const findEventForUpdate = compilePgQuery<Key>(
  b
    .select({
      seq: events.seq,
      status: events.status,
      attempts: events.attempts,
      type: events.type,
      payload: events.payload,
      receivedAt: events.receivedAt,
      occurredAt: pgEpochMs(events.occurredAt),
    })
    .from(events)
    .where(byKey)
    .for('update'),
)

/** Counts `count` duplicate sightings of an event, the last at `at`. */
export const touchEvent = compilePgQuery<Key & { count: number; at: string }>(
  b
    .update(events)
    .set({ duplicates: sql`${events.duplicates} + ${p('count')}`, lastSeenAt: ps('at') })
    .where(byKey),
)

const eventRow = b
  .update(events)
  .set({
    type: ps('type'),
    status: ps('status'),
    attempts: ps('attempts'),
    payload: ps('payload'),
    processedAt: ps('processedAt'),
    lastError: ps('lastError'),
    handlers: ps('handlers'),
  })
  .where(eq(events.seq, p('seq')))

const attemptLog = b.insert(attempts).values({
  eventSeq: p('seq'),
  at: p('at'),
  outcome: ps('status'),
  durationMs: p('durationMs'),
  error: p('error'),
  trigger: ps('trigger'),
})

const moveCount = (moves: 1 | 2) => {
  const to = { provider: p('provider'), status: ps('status'), shard: p('shard'), n: 1 }
  const from = { provider: p('provider'), status: ps('previous'), shard: p('shard'), n: -1 }
  return b
    .insert(statusCounts)
    .values(moves === 1 ? [to] : [to, from])
    .onConflictDoUpdate({
      target: [statusCounts.provider, statusCounts.status, statusCounts.shard],
      set: { n: sql`${statusCounts.n} + excluded.n` },
    })
}

/**
 * What an attempt settled, in one statement (one round trip): the event's row, its attempt log and, when
 * the status moved, the status counts; each a data-modifying WITH query (all run to completion on the same
 * snapshot; none reads another's rows). By the number of count rows the status moves: none, one (a new
 * event), two (from one status to another).
 */
const saveOutcome = (moves: 0 | 1 | 2) =>
  compilePgQuery<Record<string, unknown>>(
    sql`WITH event_row AS (${eventRow.getSQL()}), attempt_log AS (${attemptLog.getSQL()})${
      moves === 0 ? sql`` : sql`, status_count AS (${moveCount(moves).getSQL()})`
    } SELECT 1`,
  )
export const saveOutcomeStatements = [saveOutcome(0), saveOutcome(1), saveOutcome(2)] as const
