/**
 * The inbox records verified events and runs their handlers exactly once, in the same transaction as the
 * record. This file is the storage-neutral contract; `sqlite-inbox.ts` implements it on the embedded
 * database with group commit.
 */
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3'
import type { EventStatus } from '../db/schema.ts'
import type { ProviderName, VerifiedEvent } from '../providers/provider.ts'

export interface Outcome {
  provider: ProviderName
  eventId: string
  type: string
  /** The event's status after this delivery (for a duplicate: the status it already had). */
  status: EventStatus
  duplicate: boolean
  attempts: number
  /** For `failed`/`parked`: the handler's error message (stored, logged at debug; never sent to callers). */
  error?: string
}

export interface Inbox {
  /**
   * Records the event and runs its handlers once. Resolves after the commit that holds the event, so a
   * resolved outcome is durable. Throws AppError `storage_unavailable` when nothing could be committed.
   */
  receive(event: VerifiedEvent, receivedAt: Date): Promise<Outcome>
  /**
   * Runs the handlers of a stored `failed` or `parked` event again from its payload, exactly like a first
   * delivery. Throws AppError `not_found` for an unknown event, `conflict` for processed/ignored ones.
   */
  replay(provider: ProviderName, eventId: string): Promise<Outcome>
  /**
   * Whether `receive` would answer this event from memory as a duplicate of a settled one, writing nothing
   * (no queue, no transaction). Lets an overloaded service still answer the retries of settled events.
   */
  answersFromMemory(event: VerifiedEvent): boolean
  /** Counts a delivery refused before the inbox (bad signature, …) for the admin stats; best effort. */
  noteRejected(provider: ProviderName, reason: string, at: Date): void
  /** Waits for queued work to commit; later calls to receive are refused. */
  close(): Promise<void>
}

export const SETTLED_STATUSES: ReadonlySet<EventStatus> = new Set(['processed', 'ignored', 'parked'])

/** The answer for a delivery of an event already settled: nothing runs, nothing is written but a count. */
export function duplicateOutcome(
  event: VerifiedEvent,
  known: { status: EventStatus; attempts: number },
): Outcome {
  return {
    provider: event.provider,
    eventId: event.id,
    type: event.type,
    status: known.status,
    duplicate: true,
    attempts: known.attempts,
  }
}

/**
 * Deliveries still being processed, by event key. A copy that arrives meanwhile (providers resend in bursts)
 * waits for the first one's outcome and answers it as a duplicate, instead of running the handlers again
 * after it: a failing handler would otherwise run once per copy, each an attempt, and a burst could park a
 * transiently failing event within milliseconds.
 */
export function deliveriesInFlight() {
  const pending = new Map<string, Promise<Outcome>>()
  /** `start`s the delivery of `key`, or shares the one in flight (then `onCopy` runs once it has settled). */
  return function deliverOnce(
    key: string,
    start: () => Promise<Outcome>,
    onCopy: () => void,
  ): Promise<Outcome> {
    const first = pending.get(key)
    if (first) {
      return first.then((outcome) => {
        onCopy()
        return { ...outcome, duplicate: true }
      })
    }
    const delivery = start()
    pending.set(key, delivery)
    const forget = () => {
      if (pending.get(key) === delivery) pending.delete(key)
    }
    delivery.then(forget, forget)
    return delivery
  }
}

/**
 * The query-building database handed to maintenance work. Drizzle's builder API is the same for SQLite and
 * PostgreSQL, and awaiting a query runs it on either, so maintenance code is written once against this type
 * (SQLite's) and only ever awaits its queries (never `.run()`/`.get()`/`.all()`).
 */
export type QueryDb = BetterSQLite3Database

/** An inbox plus the two ways other parts of the service may write through the inbox's connection(s). */
export interface StorageInbox extends Inbox {
  /** A small best-effort write (e.g. a fetched certificate), done soon; failures are logged, not raised. */
  writeLater(write: (db: QueryDb) => Promise<unknown>): void
  /** A maintenance write (pruning) in a transaction of its own; resolves after the commit. Keep it small. */
  maintain<T>(task: (db: QueryDb) => Promise<T>): Promise<T>
}
