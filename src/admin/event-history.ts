/**
 * Read-side queries over the event history, on the read connection (they never wait for the writer).
 */
import { and, asc, eq } from 'drizzle-orm'
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3'
import { attempts, type EventStatus, events } from '../db/schema.ts'

export interface EventSummary {
  provider: string
  eventId: string
  type: string
  status: EventStatus
  attempts: number
  receivedAt: string
  processedAt: string | null
  lastError: string | null
  handlers: string[]
  duplicates: number
  lastSeenAt: string | null
}

export interface AttemptEntry {
  at: string
  outcome: EventStatus
  durationMs: number
  error: string | null
  trigger: string
}

export interface EventDetail extends EventSummary {
  payload: unknown
  attemptLog: AttemptEntry[]
}

const iso = (d: Date | null) => (d ? d.toISOString() : null)

export interface EventHistory {
  getEvent(provider: string, eventId: string): EventDetail | undefined
}

export function createEventHistory(db: BetterSQLite3Database): EventHistory {
  return {
    getEvent(provider, eventId) {
      const row = db
        .select()
        .from(events)
        .where(and(eq(events.provider, provider), eq(events.eventId, eventId)))
        .get()
      if (!row) return undefined
      const log = db
        .select()
        .from(attempts)
        .where(eq(attempts.eventSeq, row.seq))
        .orderBy(asc(attempts.id))
        .all()
      return {
        provider: row.provider,
        eventId: row.eventId,
        type: row.type,
        status: row.status,
        attempts: row.attempts,
        receivedAt: row.receivedAt.toISOString(),
        processedAt: iso(row.processedAt),
        lastError: row.lastError,
        handlers: row.handlers ? (JSON.parse(row.handlers) as string[]) : [],
        duplicates: row.duplicates,
        lastSeenAt: iso(row.lastSeenAt),
        payload: row.payload === null ? null : JSON.parse(row.payload),
        attemptLog: log.map((a) => ({
          at: a.at.toISOString(),
          outcome: a.outcome,
          durationMs: a.durationMs,
          error: a.error,
          trigger: a.trigger,
        })),
      }
    },
  }
}
