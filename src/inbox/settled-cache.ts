/**
 * Settled events the duplicate check found recently, kept in memory so that a burst of retries does not read
 * SQLite once per retry.
 *
 * Why it pays: a look-up in SQLite costs 4 µs with a warm page cache and 18 µs right after another
 * connection committed (WAL mode then drops the connection's whole cache), measured here; under load the
 * writer commits every few milliseconds. Answering from memory took about a fifth off a duplicate's CPU time
 * in the service.
 *
 * Why it is sound: the inbox's writer is the only one that changes this database, and a settled event
 * (processed, ignored, parked) changes status or disappears only through a replay or a maintenance task
 * (retention). The inbox calls `forgetAll()` right after committing any transaction that held one. An entry is
 * added only once the row it was read from is durable, and only if nothing was forgotten between the read and
 * the add (`generation`), so a status read just before a replay committed is never kept after it.
 */
import type { EventStatus } from '../db/schema.ts'

export interface KnownEvent {
  readonly status: EventStatus
  readonly attempts: number
}

export class SettledCache {
  readonly #entries = new Map<string, KnownEvent>()
  readonly #capacity: number
  #generation = 0

  /** `capacity` events at most; the oldest added goes first (retries of one event come close together). */
  constructor(capacity: number) {
    this.#capacity = capacity
  }

  /** Take it before reading a row that may be passed to `remember`. */
  get generation(): number {
    return this.#generation
  }

  get(key: string): KnownEvent | undefined {
    return this.#entries.get(key)
  }

  /** Keeps a settled event's durable status read at `generation`, unless the cache was emptied since. */
  remember(key: string, known: KnownEvent, generation: number): void {
    if (generation !== this.#generation || this.#capacity <= 0) return
    if (this.#entries.size >= this.#capacity && !this.#entries.has(key)) {
      const oldest = this.#entries.keys().next()
      if (!oldest.done) this.#entries.delete(oldest.value)
    }
    this.#entries.set(key, known)
  }

  forgetAll(): void {
    this.#entries.clear()
    this.#generation++
  }
}

/** The key of an event in the cache and in the sightings notes. */
export const eventKey = (provider: string, eventId: string) => `${provider}\u0000${eventId}`
