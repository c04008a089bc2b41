/**
 * The EventStore on the SQLite writer connection, inside the inbox's batch transaction.
 *
 * Shaped by the group commit around it (sqlite-inbox.ts), which owns the transaction and opens a SAVEPOINT
 * per event:
 * - a claim writes nothing: with one writer nobody else can claim the key, so a new event's row is inserted
 *   once, whole, when its outcome is known (one INSERT instead of INSERT + UPDATE);
 * - "undo the handlers" is a rollback to the event's own savepoint (nothing of the event is written before
 *   its handlers run but a PayPal transmission's binding, which process-event.ts writes again after it);
 * - status-count changes are summed per batch and written just before the COMMIT, one upsert per provider and
 *   status instead of one per event; an event rolled back to its savepoint takes its changes with it.
 * Statements are compiled once from Drizzle queries (compiled-statement.ts): the SQL comes from the schema,
 * without Drizzle's per-call mapping.
 */
import type Database from 'better-sqlite3'
import { and, eq, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { type CompiledStatement, compileStatement } from '../db/compiled-statement.ts'
import {
  attempts,
  type EventStatus,
  events,
  objectVersions,
  statusCounts,
  transmissions,
} from '../db/schema.ts'
import type { EventStore, StoredEvent } from './event-store.ts'
import { requireTransaction, revocableClient } from './revocable-client.ts'

/** The savepoint sqlite-inbox.ts opens around each event. */
export const EVENT_SAVEPOINT = 'hookinbox_event'

export interface SqliteEventStore extends EventStore {
  /** Counts `count` duplicate sightings on the row at once (`touch` is one); the last at `at`. */
  addSightings(provider: string, eventId: string, count: number, at: Date): void
  /** The current event's savepoint was released: its count changes join the batch's. */
  keepCounts(): void
  /** The current event's savepoint was rolled back: forget its count changes. */
  dropCounts(): void
  /** Writes the batch's count changes (call inside the transaction, before COMMIT) and forgets them. */
  writeCounts(): void
  /** The batch was rolled back: forget every pending count change. */
  resetCounts(): void
}

const p = sql.placeholder
/** A placeholder where Drizzle's types want SQL (UPDATE … SET, enum columns). */
const ps = (name: string) => sql`${p(name)}`

export function createSqliteStore(writer: Database.Database): SqliteEventStore {
  const w = drizzle(writer)
  /** Every write of the store belongs to the inbox's transaction; none may fall back to autocommit. */
  const transactional = <V extends Record<string, unknown>>(
    statement: CompiledStatement<V>,
  ): CompiledStatement<V> => ({
    run(values) {
      requireTransaction(writer)
      return statement.run(values)
    },
    get(values) {
      requireTransaction(writer)
      return statement.get(values)
    },
  })
  /** A store write: compiled once, run only inside the inbox's transaction. */
  const compileWrite = <V extends Record<string, unknown>>(query: Parameters<typeof compileStatement>[1]) =>
    transactional(compileStatement<V>(writer, query))
  const byKey = and(eq(events.eventId, p('eventId')), eq(events.provider, p('provider')))
  const find = compileStatement<{ provider: string; eventId: string }>(
    writer,
    w
      .select({
        seq: events.seq,
        status: events.status,
        attempts: events.attempts,
        type: events.type,
        payload: events.payload,
        receivedAt: events.receivedAt,
        occurredAt: events.occurredAt,
      })
      .from(events)
      .where(byKey),
  )
  const eventValues = {
    type: ps('type'),
    status: ps('status'),
    attempts: ps('attempts'),
    payload: ps('payload'),
    processedAt: ps('processedAt'),
    lastError: ps('lastError'),
    handlers: ps('handlers'),
  }
  const insert = compileWrite<Record<string, unknown>>(
    w.insert(events).values({
      ...eventValues,
      provider: p('provider'),
      eventId: p('eventId'),
      receivedAt: p('receivedAt'),
      occurredAt: p('occurredAt'),
    }),
  )
  const update = compileWrite<Record<string, unknown>>(
    w
      .update(events)
      .set(eventValues)
      .where(eq(events.seq, p('seq'))),
  )
  const touch = compileWrite<{ provider: string; eventId: string; count: number; at: number }>(
    w
      .update(events)
      .set({ duplicates: sql`${events.duplicates} + ${p('count')}`, lastSeenAt: ps('at') })
      .where(byKey),
  )
  const addAttempt = compileWrite<Record<string, unknown>>(
    w.insert(attempts).values({
      eventSeq: p('eventSeq'),
      at: p('at'),
      outcome: ps('outcome'),
      durationMs: p('durationMs'),
      error: p('error'),
      trigger: ps('trigger'),
    }),
  )
  const recordVersion = compileWrite<Record<string, unknown>>(
    w
      .insert(objectVersions)
      .values({
        provider: p('provider'),
        objectKey: p('objectKey'),
        occurredAt: p('occurredAt'),
        eventId: p('eventId'),
      })
      .onConflictDoUpdate({
        target: [objectVersions.provider, objectVersions.objectKey],
        set: { occurredAt: sql`excluded.occurred_at`, eventId: sql`excluded.event_id` },
        // Only move forward: an older event leaves the row alone, and then nothing is returned.
        setWhere: sql`${objectVersions.occurredAt} <= excluded.occurred_at`,
      })
      .returning({ objectKey: objectVersions.objectKey }),
  )
  // One writer: no contention, so one shard.
  const count = compileWrite<{ provider: string; status: string; delta: number }>(
    w
      .insert(statusCounts)
      .values({ provider: p('provider'), status: ps('status'), shard: 0, n: p('delta') })
      .onConflictDoUpdate({
        target: [statusCounts.provider, statusCounts.status, statusCounts.shard],
        set: { n: sql`${statusCounts.n} + excluded.n` },
      }),
  )
  const undo = writer.prepare(`ROLLBACK TO ${EVENT_SAVEPOINT}`)
  const recordTransmission = compileWrite<Record<string, unknown>>(
    w
      .insert(transmissions)
      .values({
        provider: p('provider'),
        transmissionId: p('transmissionId'),
        bodySha256: p('bodySha256'),
        receivedAt: p('receivedAt'),
      })
      .onConflictDoNothing({ target: [transmissions.provider, transmissions.transmissionId] }),
  )
  const transmissionBody = compileWrite<{ provider: string; transmissionId: string }>(
    w
      .select({ bodySha256: transmissions.bodySha256 })
      .from(transmissions)
      .where(
        and(eq(transmissions.provider, p('provider')), eq(transmissions.transmissionId, p('transmissionId'))),
      ),
  )

  function findRow(provider: string, eventId: string): StoredEvent | undefined {
    const row = find.get({ provider, eventId })
    if (!row) return undefined
    const [seq, status, attemptCount, type, payload, receivedAt, occurredAt] = row
    return {
      seq,
      status,
      attempts: attemptCount,
      type,
      payload,
      receivedAt: new Date(receivedAt as number),
      occurredAt: occurredAt === null ? null : new Date(occurredAt as number),
    } as StoredEvent
  }

  const eventCounts: Array<{ provider: string; status: EventStatus; delta: number }> = []
  const batchCounts = new Map<string, { provider: string; status: EventStatus; delta: number }>()

  return {
    dialect: 'sqlite',
    async isStale(provider, objectKey, occurredAt, eventId) {
      return (
        recordVersion.get({ provider, objectKey, occurredAt: occurredAt.getTime(), eventId }) === undefined
      )
    },
    async bindTransmission(provider, transmissionId, bodySha256, at) {
      const { changes } = recordTransmission.run({
        provider,
        transmissionId,
        bodySha256,
        receivedAt: at.getTime(),
      })
      if (changes === 1) return true
      return transmissionBody.get({ provider, transmissionId })?.[0] === bodySha256
    },
    async claim(event) {
      const row = findRow(event.provider, event.eventId)
      return row ? { fresh: false, row } : { fresh: true, seq: null }
    },
    async find(provider, eventId) {
      return findRow(provider, eventId)
    },
    async touch(provider, eventId, at) {
      touch.run({ provider, eventId, count: 1, at: at.getTime() })
    },
    addSightings(provider, eventId, count, at) {
      touch.run({ provider, eventId, count, at: at.getTime() })
    },
    async saveOutcome({ provider, seq, event, values: v, previous, attempt: a }) {
      let eventSeq = seq
      if (eventSeq === null) {
        if (!event) throw new Error('an outcome without a stored row needs its event')
        // Every field named (no spread): one object of a fixed shape per new event.
        const { lastInsertRowid } = insert.run({
          type: v.type,
          status: v.status,
          attempts: v.attempts,
          payload: v.payload,
          lastError: v.lastError,
          handlers: v.handlers,
          provider: event.provider,
          eventId: event.eventId,
          receivedAt: event.receivedAt.getTime(),
          occurredAt: event.occurredAt?.getTime() ?? null,
          processedAt: v.processedAt?.getTime() ?? null,
        })
        eventSeq = Number(lastInsertRowid)
      } else {
        update.run({ ...v, seq: eventSeq, processedAt: v.processedAt?.getTime() ?? null })
      }
      if (previous !== v.status) {
        if (previous !== null) eventCounts.push({ provider, status: previous, delta: -1 })
        eventCounts.push({ provider, status: v.status, delta: 1 })
      }
      addAttempt.run({
        eventSeq,
        at: a.at.getTime(),
        outcome: v.status,
        durationMs: a.durationMs,
        error: a.error,
        trigger: a.trigger,
      })
    },
    keepCounts() {
      for (const c of eventCounts) {
        const key = `${c.provider}\u0000${c.status}`
        const sum = batchCounts.get(key)
        if (sum) sum.delta += c.delta
        else batchCounts.set(key, { ...c })
      }
      eventCounts.length = 0
    },
    dropCounts() {
      eventCounts.length = 0
    },
    writeCounts() {
      for (const c of batchCounts.values()) if (c.delta !== 0) count.run(c)
      batchCounts.clear()
    },
    resetCounts() {
      eventCounts.length = 0
      batchCounts.clear()
    },
    async markHandlers() {
      // The event's savepoint, opened by the inbox before anything of the event is written, is the mark.
    },
    async undoHandlers() {
      undo.run()
    },
    handlerTx() {
      const gate = revocableClient(writer)
      return { tx: drizzle(gate.client), revoke: gate.revoke, check: async () => gate.check() }
    },
  }
}
