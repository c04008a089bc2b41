/**
 * The inbox on PostgreSQL: every delivery runs in its own transaction on a pooled connection, with no lock
 * in this process: concurrency, across requests and across service instances, comes from the database's
 * unique key (see pg-store.ts). Duplicates of settled events are answered by one indexed read.
 */
import net from 'node:net'
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import type pg from 'pg'
import { inErrorChain } from '../db/error-chain.ts'
import { rejections } from '../db/pg-schema.ts'
import type { PostgresDatabase } from '../db/postgres.ts'
import { AppError, isAppError, storageError } from '../errors.ts'
import { waitAtMost } from '../wait-at-most.ts'
import {
  deliveriesInFlight,
  duplicateOutcome,
  type Outcome,
  type QueryDb,
  SETTLED_STATUSES,
  type StorageInbox,
} from './inbox.ts'
import { lookUpStatus, touchEvent } from './pg-statements.ts'
import { createPgStore } from './pg-store.ts'
import { failedAtCommit, type InboxOptions, processDeps, processEvent, type Work } from './process-event.ts'
import { eventKey } from './settled-cache.ts'

export interface PgInboxOptions extends InboxOptions {
  database: PostgresDatabase
}

/** Serialization failures and deadlocks: the transaction did nothing and may simply run again. */
const RETRYABLE = new Set(['40001', '40P01'])

/** The COMMIT itself failed (PostgreSQL has rolled the transaction back). */
class CommitRefused extends Error {
  constructor(cause: unknown) {
    super('COMMIT failed', { cause })
    this.name = 'CommitRefused'
  }
}

/**
 * node-postgres's error for a query past the pool's query_timeout (see openPostgres), also as the cause of
 * Drizzle's "Failed query" (handlers' ctx.tx, maintenance tasks, the transmission binding).
 */
const isQueryTimeout = (err: unknown): boolean =>
  inErrorChain(err, ({ message }) => message === 'Query read timeout')

/** PostgreSQL's CancelRequest code, where a startup packet has its protocol version. */
const CANCEL_REQUEST_CODE = 80877102

/** How long the rollback of a timed-out handler waits for its query to be cancelled. */
const CANCEL_WAIT_MS = 5000

export function createPgInbox(options: PgInboxOptions): StorageInbox {
  const { pool, db } = options.database
  const { log } = options
  const deps = processDeps(options)
  const inFlight = new Set<Promise<unknown>>()
  const rejectionCounts = new Map<
    string,
    { provider: string; reason: string; minute: number; count: number }
  >()
  /**
   * Duplicate sightings (a count and the last time, per event), written together every 200 ms instead of an
   * UPDATE and a commit per duplicate: a burst of retries is mostly duplicates. Best effort, like the
   * rejection counts: a crash may lose the last few.
   */
  const sightings = new Map<string, { provider: string; eventId: string; count: number; at: Date }>()
  let flushTimer: NodeJS.Timeout | undefined
  let closed = false
  /** Deliveries being processed by this instance: a copy arriving meanwhile shares the outcome (inbox.ts). */
  const deliverOnce = deliveriesInFlight()

  function track<T>(promise: Promise<T>): Promise<T> {
    inFlight.add(promise)
    promise.then(
      () => inFlight.delete(promise),
      () => inFlight.delete(promise),
    )
    return promise
  }

  async function inTransaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient
    try {
      client = await pool.connect()
    } catch (err) {
      throw storageError(err)
    }
    let broken = false
    // A checked-out client whose connection dies emits 'error'; unheard, that would crash the process. The
    // failure also surfaces as the rejected query, which is what answers the request (503).
    const onError = () => {
      broken = true
    }
    client.on('error', onError)
    try {
      await client.query('BEGIN')
      const result = await work(client)
      try {
        await client.query('COMMIT')
      } catch (err) {
        throw new CommitRefused(err)
      }
      return result
    } catch (err) {
      if (isQueryTimeout(err)) {
        // The database stopped answering on this connection: a ROLLBACK would only wait as long again. The
        // connection is dropped instead, and PostgreSQL rolls the transaction back when it sees it go.
        broken = true
        throw err
      }
      try {
        await client.query('ROLLBACK')
      } catch {
        broken = true
      }
      throw err
    } finally {
      client.off('error', onError)
      client.release(broken)
    }
  }

  /**
   * Cancels the query running on `client`'s connection, if any; best effort (see pg-store.ts). By a cancel
   * request (what psql's Ctrl-C sends): a connection of its own, not the pool's, which may be exhausted by
   * such handlers (a cancel queued there could run much later, against whatever that connection runs by
   * then), and not a session either, so that it gets through when PostgreSQL refuses new sessions
   * (max_connections reached), as pg_cancel_backend from a new session did not. The server closes the
   * request's socket once it has signalled the backend, so awaiting the close orders the cancel before the
   * rollback.
   */
  async function cancelQueryOf(client: pg.PoolClient): Promise<void> {
    const { processID, secretKey, host, port } = client as unknown as {
      processID?: number
      secretKey?: number
      host?: string
      port?: number
    }
    if (typeof processID !== 'number' || typeof secretKey !== 'number' || !host || !port) return
    const request = Buffer.alloc(16)
    request.writeInt32BE(16, 0)
    request.writeInt32BE(CANCEL_REQUEST_CODE, 4)
    request.writeInt32BE(processID, 8)
    request.writeInt32BE(secretKey, 12)
    const socket = host.startsWith('/') ? net.connect(`${host}/.s.PGSQL.${port}`) : net.connect(port, host)
    const sent = new Promise<void>((resolve) => {
      socket.on('connect', () => socket.end(request))
      socket.on('error', (err) => {
        log.warn({ err }, 'could not cancel a timed-out handler query')
        resolve()
      })
      socket.on('close', () => resolve())
      socket.resume()
    })
    await waitAtMost(sent, CANCEL_WAIT_MS, undefined)
    socket.destroy()
  }

  async function run(first: Work): Promise<Outcome> {
    if (closed) throw new AppError('storage_unavailable', 'the service is shutting down')
    let work = first
    for (let attempt = 1; ; attempt++) {
      try {
        return await inTransaction((client) =>
          processEvent(
            work,
            createPgStore(client, () => cancelQueryOf(client)),
            deps,
          ),
        )
      } catch (thrown) {
        if (isAppError(thrown)) throw thrown
        const err = thrown instanceof CommitRefused ? thrown.cause : thrown
        const code = (err as { code?: string }).code
        // A deferred constraint (a handler's table with a DEFERRABLE INITIALLY DEFERRED key) broken by the
        // handlers, found at COMMIT, which rolled everything back: the attempt is recorded as failed without
        // running them again, so that the event is retried and in the end parked (see Work).
        if (thrown instanceof CommitRefused && code?.startsWith('23') && work.deferredFailure === undefined) {
          work = failedAtCommit(work, err, log)
          attempt--
          continue
        }
        if (code && RETRYABLE.has(code) && attempt < 3) continue
        throw storageError(err)
      }
    }
  }

  /** Writes the rejection counts and duplicate sightings gathered since the last flush. */
  async function flushNotes() {
    flushTimer = undefined
    const counts = [...rejectionCounts.values()]
    rejectionCounts.clear()
    for (const r of counts) {
      await db
        .insert(rejections)
        .values(r)
        .onConflictDoUpdate({
          target: [rejections.provider, rejections.reason, rejections.minute],
          set: { count: sql`${rejections.count} + ${r.count}` },
        })
        .catch((err: unknown) => log.warn({ err }, 'could not record rejected deliveries'))
    }
    const seen = [...sightings.values()]
    sightings.clear()
    // One autocommit UPDATE per event, each locking its one row: never several rows in one statement, which
    // could deadlock with another instance's flush or a retention pass.
    for (const t of seen) {
      await touchEvent
        .run(pool, { provider: t.provider, eventId: t.eventId, count: t.count, at: t.at.toISOString() })
        .catch((err: unknown) => log.warn({ err }, 'could not record duplicate sightings'))
    }
  }

  function scheduleFlush() {
    if (flushTimer || closed) return
    // Tracked, so that close() waits for a flush under way before the pool ends.
    flushTimer = setTimeout(() => void track(flushNotes()), 200)
    flushTimer.unref()
  }

  /** Counts a duplicate delivery on its event's row (see `sightings`). */
  function noteSighting(provider: string, eventId: string, at: Date) {
    const key = eventKey(provider, eventId)
    const t = sightings.get(key)
    if (t) {
      t.count++
      if (at > t.at) t.at = at
    } else {
      sightings.set(key, { provider, eventId, count: 1, at })
      // Bounded: a storm of retries of many distinct events is written at once rather than held.
      if (sightings.size >= 10_000 && !closed) {
        if (flushTimer) clearTimeout(flushTimer)
        void track(flushNotes())
        return
      }
    }
    scheduleFlush()
  }

  return {
    async receive(event, receivedAt) {
      // A transmission must be bound to its body (a write) even when its event is a duplicate.
      if (event.transmission) return track(run({ kind: 'delivery', event, receivedAt }))
      const key = { provider: event.provider, eventId: event.id }
      let known: { status: Outcome['status']; attempts: number } | undefined
      try {
        const [row] = await lookUpStatus.run(pool, key)
        if (row) known = { status: row[0] as Outcome['status'], attempts: Number(row[1]) }
      } catch (err) {
        throw storageError(err)
      }
      // A statistic only: it does not affect the answer.
      const sighted = () => noteSighting(event.provider, event.id, receivedAt)
      if (known && SETTLED_STATUSES.has(known.status)) {
        sighted()
        return duplicateOutcome(event, known)
      }
      // Copies reaching other instances wait on the event's row lock instead.
      return deliverOnce(
        eventKey(event.provider, event.id),
        () => track(run({ kind: 'delivery', event, receivedAt })),
        sighted,
      )
    },

    replay(provider, eventId) {
      return track(run({ kind: 'replay', provider, eventId }))
    },

    // Other instances write the same database: every look-up reads it (see README, Performance).
    answersFromMemory: () => false,

    noteRejected(provider, reason, at) {
      const minute = Math.floor(at.getTime() / 60_000)
      const key = `${provider}\u0000${reason}\u0000${minute}`
      const r = rejectionCounts.get(key)
      if (r) r.count++
      else if (rejectionCounts.size < 1000) rejectionCounts.set(key, { provider, reason, minute, count: 1 })
      scheduleFlush()
    },

    writeLater(write) {
      void track(write(db as unknown as QueryDb)).catch((err: unknown) =>
        log.warn({ err }, 'a deferred write failed'),
      )
    },

    maintain(task) {
      return track(inTransaction((client) => task(drizzle(client) as unknown as QueryDb)))
    },

    async close() {
      closed = true
      if (flushTimer) clearTimeout(flushTimer)
      while (inFlight.size > 0) await Promise.allSettled([...inFlight])
      await flushNotes()
    },
  }
}
