/**
 * What the inbox needs from a database, inside one open write transaction. One implementation per dialect
 * (sqlite-store.ts, pg-store.ts); the logic that uses it (process-event.ts) is written once.
 */
import type { EventStatus } from '../db/schema.ts'
import type { HandlerTx } from '../handlers.ts'
import type { ProviderName } from '../providers/provider.ts'

export interface StoredEvent {
  seq: number
  status: EventStatus
  attempts: number
  type: string
  payload: string | null
  receivedAt: Date
  occurredAt: Date | null
}

export interface NewEvent {
  provider: ProviderName
  eventId: string
  type: string
  payload: string
  receivedAt: Date
  occurredAt: Date | null
}

export interface EventUpdate {
  type: string
  status: EventStatus
  attempts: number
  payload: string
  processedAt: Date | null
  lastError: string | null
  handlers: string
}

/** An attempt's line in the attempt log; its event and outcome are those of the SavedOutcome it belongs to. */
export interface AttemptRecord {
  at: Date
  durationMs: number
  error: string | null
  trigger: 'delivery' | 'replay'
}

/** The writes of one settled attempt (see EventStore.saveOutcome). */
export interface SavedOutcome {
  provider: ProviderName
  /** The stored row; null for a new event whose claim wrote none: then `event` is inserted whole. */
  seq: number | null
  event: NewEvent | undefined
  values: EventUpdate
  /** The status the row had before this attempt; null for a new event. */
  previous: EventStatus | null
  attempt: AttemptRecord
}

/**
 * What a claim found: the stored row, or a new event. For a new event `seq` is the row the claim wrote (a
 * placeholder the outcome overwrites), or null where the claim writes nothing and the row is inserted
 * whole once the outcome is known (SQLite, whose single writer makes the placeholder unnecessary).
 */
export type Claim = { fresh: false; row: StoredEvent } | { fresh: true; seq: number | null }

export interface EventStore {
  readonly dialect: 'sqlite' | 'postgres'
  /**
   * Claims the event's key for this transaction: returns the existing row, or takes the key for a new one.
   * On PostgreSQL a concurrent claimer of the same key waits here until the first transaction ends; it then
   * gets the committed row, or the key if the first rolled back.
   */
  claim(event: NewEvent): Promise<Claim>
  /** The stored row, locked for this transaction. */
  find(provider: ProviderName, eventId: string): Promise<StoredEvent | undefined>
  /**
   * Binds a signed transmission to the digest of its body: true when it was not seen before (now recorded) or
   * was seen with this same body; false when it came before with a different body. Inside the event's
   * transaction, so the binding commits or rolls back with it.
   */
  bindTransmission(
    provider: ProviderName,
    transmissionId: string,
    bodySha256: string,
    at: Date,
  ): Promise<boolean>
  /** Counts a duplicate sighting on the row. */
  touch(provider: ProviderName, eventId: string, at: Date): Promise<void>
  /**
   * Writes what an attempt settled, all at once: the event's row (updated, or inserted whole when the claim
   * wrote none), the move between statuses in the status counts, and the attempt log. One call, so that a
   * dialect with a round trip per statement (PostgreSQL) can send it as one statement.
   */
  saveOutcome(outcome: SavedOutcome): Promise<void>
  /** Marks the point the handlers' writes can be undone to. */
  markHandlers(): Promise<void>
  /** Undoes every write since markHandlers(). */
  undoHandlers(): Promise<void>
  /**
   * Records `occurredAt` as the newest time applied to the object unless a newer one is already recorded;
   * answers true (stale) in that case. Inside the event's transaction, so it rolls back with the handlers.
   */
  isStale(provider: ProviderName, objectKey: string, occurredAt: Date, eventId: string): Promise<boolean>
  /**
   * A transaction handle for handlers that stops working once revoked. `check`, run after each handler that
   * used it, throws if the handler left the transaction unable to go on (see pg-store.ts).
   */
  handlerTx(): { tx: HandlerTx; revoke(): void; check?(): Promise<void> }
}
