/**
 * The EventStore on the SQLite writer connection. Statements are prepared once (Drizzle re-prepares
 * unprepared queries on every call). The caller owns the transaction; this only runs statements inside it.
 */
import type Database from 'better-sqlite3'
import { and, eq, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import { attempts, events, objectVersions, statusCounts } from '../db/schema.ts'
import type { EventStore, StoredEvent } from './event-store.ts'
import { revocableClient } from './revocable-client.ts'

export function createSqliteStore(writer: Database.Database): EventStore {
  const w = drizzle(writer)
  const key = { provider: sql.placeholder('provider'), eventId: sql.placeholder('eventId') }
  const byKey = and(eq(events.eventId, key.eventId), eq(events.provider, key.provider))
  const columns = {
    seq: events.seq,
    status: events.status,
    attempts: events.attempts,
    type: events.type,
    payload: events.payload,
    receivedAt: events.receivedAt,
  }
  const find = w.select(columns).from(events).where(byKey).prepare()
  const insert = w
    .insert(events)
    .values({
      provider: sql.placeholder('provider'),
      eventId: sql.placeholder('eventId'),
      type: sql.placeholder('type'),
      // A placeholder status: the row is updated before the transaction commits, and never seen before.
      status: 'failed',
      attempts: 0,
      payload: sql.placeholder('payload'),
      receivedAt: sql.placeholder('receivedAt'),
      // Nullable: passed through sql`` (as milliseconds) so a null is not handed to the Date mapping.
      occurredAt: sql`${sql.placeholder('occurredAt')}`,
    })
    .returning({ seq: events.seq })
    .prepare()
  const touch = w
    .update(events)
    .set({ duplicates: sql`${events.duplicates} + 1`, lastSeenAt: sql`${sql.placeholder('at')}` })
    .where(byKey)
    .prepare()
  const update = w
    .update(events)
    .set({
      type: sql`${sql.placeholder('type')}`,
      status: sql`${sql.placeholder('status')}`,
      attempts: sql`${sql.placeholder('attempts')}`,
      payload: sql`${sql.placeholder('payload')}`,
      processedAt: sql`${sql.placeholder('processedAt')}`,
      lastError: sql`${sql.placeholder('lastError')}`,
      handlers: sql`${sql.placeholder('handlers')}`,
    })
    .where(eq(events.seq, sql.placeholder('seq')))
    .prepare()
  const addAttempt = w
    .insert(attempts)
    .values({
      eventSeq: sql.placeholder('eventSeq'),
      at: sql.placeholder('at'),
      outcome: sql`${sql.placeholder('outcome')}`,
      durationMs: sql.placeholder('durationMs'),
      error: sql.placeholder('error'),
      trigger: sql.placeholder('trigger'),
    })
    .prepare()
  const recordVersion = w
    .insert(objectVersions)
    .values({
      provider: sql.placeholder('provider'),
      objectKey: sql.placeholder('objectKey'),
      occurredAt: sql.placeholder('occurredAt'),
      eventId: sql.placeholder('eventId'),
    })
    .onConflictDoUpdate({
      target: [objectVersions.provider, objectVersions.objectKey],
      set: { occurredAt: sql`excluded.occurred_at`, eventId: sql`excluded.event_id` },
      // Only move forward: an older event leaves the row alone, and then nothing is returned.
      setWhere: sql`${objectVersions.occurredAt} <= excluded.occurred_at`,
    })
    .returning({ objectKey: objectVersions.objectKey })
    .prepare()
  // One writer: no contention, so one shard.
  const count = w
    .insert(statusCounts)
    .values({
      provider: sql.placeholder('provider'),
      status: sql`${sql.placeholder('status')}`,
      shard: 0,
      n: sql.placeholder('delta'),
    })
    .onConflictDoUpdate({
      target: [statusCounts.provider, statusCounts.status, statusCounts.shard],
      set: { n: sql`${statusCounts.n} + excluded.n` },
    })
    .prepare()
  const mark = writer.prepare('SAVEPOINT hookinbox_handlers')
  const undo = writer.prepare('ROLLBACK TO hookinbox_handlers')

  return {
    dialect: 'sqlite',
    async isStale(provider, objectKey, occurredAt, eventId) {
      return recordVersion.get({ provider, objectKey, occurredAt, eventId }) === undefined
    },
    async claim(event) {
      const existing = find.get({ provider: event.provider, eventId: event.eventId }) as
        | StoredEvent
        | undefined
      if (existing) return { row: existing, fresh: false }
      // Placeholders in insert values go through the columns' own mapping: pass Dates.
      const { seq } = insert.get({ ...event, occurredAt: event.occurredAt?.getTime() ?? null }) as {
        seq: number
      }
      return {
        row: {
          seq,
          status: 'failed',
          attempts: 0,
          type: event.type,
          payload: event.payload,
          receivedAt: event.receivedAt,
        },
        fresh: true,
      }
    },
    async find(provider, eventId) {
      return find.get({ provider, eventId }) as StoredEvent | undefined
    },
    async touch(provider, eventId, at) {
      touch.run({ provider, eventId, at: at.getTime() })
    },
    async update(seq, v) {
      // Placeholders inside sql`` are passed as they are: convert Dates to the stored milliseconds.
      update.run({ ...v, seq, processedAt: v.processedAt === null ? null : v.processedAt.getTime() })
    },
    async addAttempt(a) {
      addAttempt.run({ ...a })
    },
    async countStatus(provider, from, to) {
      if (from === to) return
      if (from !== null) count.run({ provider, status: from, delta: -1 })
      count.run({ provider, status: to, delta: 1 })
    },
    async markHandlers() {
      mark.run()
    },
    async undoHandlers() {
      undo.run()
    },
    handlerTx() {
      const gate = revocableClient(writer)
      return { tx: drizzle(gate.client), revoke: gate.revoke }
    },
  }
}
