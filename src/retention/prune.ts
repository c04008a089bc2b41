/**
 * Retention. Payloads and attempt logs of settled events are deleted after RETENTION_DAYS; the bare event
 * (id, status, times) is kept for DEDUP_KEEP_DAYS, so a very late provider retry is still recognised as a
 * duplicate, and then deleted. Failed and parked events keep their payload (an operator may still replay
 * them) until they are deleted with the rest.
 *
 * Work goes in windows of the arrival sequence, each a small transaction through the inbox's writer, so a
 * pass over millions of events never holds up deliveries for more than a few milliseconds at a time.
 */
import { and, type Column, desc, gt, inArray, isNotNull, lt, lte, type SQL, sql } from 'drizzle-orm'
import type { Logger } from 'pino'
import type { EventStatus } from '../db/schema.ts'
import { adjustStatusCount } from '../db/status-counts.ts'
import type { Tables } from '../db/tables.ts'
import type { QueryDb } from '../inbox/inbox.ts'

const DAY_MS = 86_400_000
const WINDOW = 2000

export interface PruneOptions {
  reader: QueryDb
  tables: Tables
  maintain<T>(task: (db: QueryDb) => Promise<T>): Promise<T>
  retentionDays: number
  dedupKeepDays: number
  log: Logger
}

export interface PruneResult {
  payloadsPruned: number
  eventsDeleted: number
}

export interface Pruner {
  prune(now: Date): Promise<PruneResult>
}

/**
 * How far one kind of work has gone through the arrival sequence. Arrival order is not received_at order
 * (a host whose clock was wrong, instances whose clocks differ), so a window can hold rows too recent to
 * touch yet; such a window is `held` until the oldest of those rows has aged past the cutoff.
 */
interface Sweep {
  through: number
  /** `until`: the earliest received_at (ms) among the rows a window still holds back. */
  held: { from: number; to: number; until: number }[]
}

/** What one window's transaction did, and the earliest arrival among the rows it left for being recent. */
interface WindowResult {
  done: number
  left: Date | null
}

/** The settled statuses whose payload and attempt log go after RETENTION_DAYS (parked ones wait for a replay). */
const PRUNABLE_STATUSES: EventStatus[] = ['processed', 'ignored']

export function createPruner(options: PruneOptions): Pruner {
  const { events, attempts, rejections, objectVersions, transmissions } = options.tables
  // Everything at or below `through` was handled by an earlier pass of this process, except held windows.
  const deleting: Sweep = { through: 0, held: [] }
  const pruning: Sweep = { through: 0, held: [] }
  /** Failed and parked events that the payload pass went over with their payload (see pruneWindow). */
  const watched = new Set<number>()

  /** The newest arrival sequence received before `cutoff` (an index seek on received_at). */
  const boundary = async (cutoff: Date): Promise<number> => {
    const [row] = await options.reader
      .select({ seq: events.seq })
      .from(events)
      .where(lt(events.receivedAt, cutoff))
      .orderBy(desc(events.receivedAt))
      .limit(1)
    return row?.seq ?? 0
  }

  const inWindow = (from: number, to: number) => and(gt(events.seq, from), lte(events.seq, to))
  const prunable = inArray(events.status, PRUNABLE_STATUSES)

  // Not min(received_at): PostgreSQL plans that as a walk of the received_at index from its oldest entry,
  // filtered by the window (950,000 rows passed over for a window near the top of a 1M-row table).
  const earliest = async (db: QueryDb, where: SQL | undefined): Promise<Date | null> => {
    let first: Date | null = null
    for (const row of await db.select({ at: events.receivedAt }).from(events).where(where)) {
      if (first === null || row.at < first) first = row.at
    }
    return first
  }

  // Events first, then their attempt logs. A replay (or a retry) holds its event's row from its look-up to its
  // commit and writes an attempt log; a statement on the events waits for that row and sees the replay's
  // outcome, and the next statement, on a fresh snapshot (PostgreSQL's READ COMMITTED), sees its log. Logs
  // deleted first were those of a snapshot taken before the replay committed, and its log outlived its event.

  /** Nulls the payloads of the events `which` and deletes their attempt logs; answers how many were pruned. */
  const prunePayloads = async (db: QueryDb, which: SQL | undefined) => {
    const pruned = await db
      .update(events)
      .set({ payload: null })
      .where(and(which, isNotNull(events.payload)))
      .returning({ seq: events.seq })
    if (pruned.length > 0)
      await db.delete(attempts).where(
        inArray(
          attempts.eventSeq,
          pruned.map((row) => row.seq),
        ),
      )
    return pruned.length
  }

  const deleteWindow = async (db: QueryDb, from: number, to: number, cutoff: Date): Promise<WindowResult> => {
    // The counts go down by what this transaction deleted, not by a count taken before: on PostgreSQL another
    // instance may be deleting the same window, and rows it took first are not returned here.
    const deleted = await db
      .delete(events)
      .where(and(inWindow(from, to), lt(events.receivedAt, cutoff)))
      .returning({ provider: events.provider, status: events.status })
    // Every log of the window whose event is gone: this transaction's, another instance's, and any left
    // behind by an earlier version that deleted the logs first.
    await db
      .delete(attempts)
      .where(
        and(
          gt(attempts.eventSeq, from),
          lte(attempts.eventSeq, to),
          sql`NOT EXISTS (SELECT 1 FROM ${events} WHERE ${events.seq} = ${attempts.eventSeq})`,
        ),
      )
    const leaving = new Map<string, { provider: string; status: string; n: number }>()
    for (const row of deleted) {
      const key = `${row.provider}\u0000${row.status}`
      const entry = leaving.get(key)
      if (entry) entry.n++
      else leaving.set(key, { provider: row.provider, status: row.status, n: 1 })
    }
    for (const l of leaving.values()) {
      await adjustStatusCount(db, options.tables, {
        provider: l.provider,
        status: l.status,
        delta: -l.n,
        shard: 0,
      })
    }
    return { done: deleted.length, left: await earliest(db, inWindow(from, to)) }
  }

  const pruneWindow = async (db: QueryDb, from: number, to: number, cutoff: Date): Promise<WindowResult> => {
    const settled = and(inWindow(from, to), prunable)
    const done = await prunePayloads(db, and(settled, lt(events.receivedAt, cutoff)))
    // A failed or parked event keeps its payload, but a replay or a provider's retry may settle it after this
    // pass went by: it is watched from now on (see recheck).
    const unsettled = await db
      .select({ seq: events.seq })
      .from(events)
      .where(and(inWindow(from, to), inArray(events.status, ['failed', 'parked']), isNotNull(events.payload)))
    for (const row of unsettled) watched.add(row.seq)
    return { done, left: await earliest(db, and(settled, isNotNull(events.payload))) }
  }

  /**
   * Prunes the watched events that are settled and old by now, and keeps watching those that still have a
   * payload. Looked up by their sequence numbers: unlike holding their windows, this costs nothing per
   * window left behind, however many windows hold a parked event.
   */
  const recheck = async (db: QueryDb, seqs: number[], cutoff: Date) => {
    const rows = await db
      .select({ seq: events.seq, status: events.status, at: events.receivedAt })
      .from(events)
      .where(and(inArray(events.seq, seqs), isNotNull(events.payload)))
    const due = rows
      .filter((row) => PRUNABLE_STATUSES.includes(row.status) && row.at < cutoff)
      .map((row) => row.seq)
    const pruning = new Set(due)
    const kept = rows.filter((row) => !pruning.has(row.seq)).map((row) => row.seq)
    if (due.length === 0) return { done: 0, kept }
    const done = await prunePayloads(db, and(inArray(events.seq, due), prunable))
    return { done, kept }
  }

  /** Goes over the held windows whose rows may have aged since, then over new windows up to `upTo`. */
  const sweep = async (
    state: Sweep,
    cutoff: Date,
    upTo: number,
    work: (db: QueryDb, from: number, to: number, cutoff: Date) => Promise<WindowResult>,
  ): Promise<number> => {
    let done = 0
    for (const window of [...state.held]) {
      if (window.until >= cutoff.getTime()) continue
      const r = await options.maintain((db) => work(db, window.from, window.to, cutoff))
      done += r.done
      if (r.left) window.until = r.left.getTime()
      else state.held.splice(state.held.indexOf(window), 1)
    }
    for (let from = state.through; from < upTo; from += WINDOW) {
      const to = Math.min(from + WINDOW, upTo)
      const r = await options.maintain((db) => work(db, from, to, cutoff))
      done += r.done
      if (r.left) state.held.push({ from, to, until: r.left.getTime() })
      state.through = to
    }
    return done
  }

  /**
   * Deletes the rows of `table` matching `where`, WINDOW rows (by primary key) per transaction: one statement
   * over a large backlog could outlast PostgreSQL's query timeout (openPostgres), be rolled back, and fail the
   * same way on every pass.
   */
  const deleteInBatches = async (
    table: Tables['transmissions'] | Tables['objectVersions'] | Tables['rejections'],
    key: Column[],
    where: SQL | undefined,
  ) => {
    const keys = sql.join(key, sql`, `)
    for (;;) {
      const deleted = await options.maintain((db) =>
        db
          .delete(table)
          .where(sql`(${keys}) IN (SELECT ${keys} FROM ${table} WHERE ${where} LIMIT ${WINDOW})`)
          .returning({ one: sql`1` }),
      )
      if (deleted.length < WINDOW) return
    }
  }

  const pass = async (now: Date): Promise<PruneResult> => {
    const result: PruneResult = { payloadsPruned: 0, eventsDeleted: 0 }

    const deleteBefore = new Date(now.getTime() - options.dedupKeepDays * DAY_MS)
    result.eventsDeleted = await sweep(deleting, deleteBefore, await boundary(deleteBefore), deleteWindow)

    // Below the delete pass's mark only the rows it held are left; the payload pass skips the rest.
    if (deleting.through > pruning.through) {
      for (const window of deleting.held) {
        if (window.to > pruning.through)
          pruning.held.push({ ...window, from: Math.max(window.from, pruning.through) })
      }
      pruning.through = deleting.through
    }
    const pruneBefore = new Date(now.getTime() - options.retentionDays * DAY_MS)
    result.payloadsPruned = await sweep(pruning, pruneBefore, await boundary(pruneBefore), pruneWindow)
    const seqs = [...watched]
    for (let i = 0; i < seqs.length; i += WINDOW) {
      const chunk = seqs.slice(i, i + WINDOW)
      const r = await options.maintain((db) => recheck(db, chunk, pruneBefore))
      result.payloadsPruned += r.done
      const kept = new Set(r.kept)
      for (const seq of chunk) if (!kept.has(seq)) watched.delete(seq)
    }

    // Out-of-order bookkeeping lives as long as event ids do: an older event could not arrive after that.
    await deleteInBatches(
      objectVersions,
      [objectVersions.provider, objectVersions.objectKey],
      lt(objectVersions.occurredAt, deleteBefore),
    )

    // A PayPal transmission's binding to its body outlives the age at which the transmission itself is
    // refused (PAYPAL_MAX_TRANSMISSION_AGE_DAYS, at most DEDUP_KEEP_DAYS, after it was signed): its time is the
    // later of its arrival and its signed time, and a day is left to spare for a clock set back since.
    const unbindBefore = new Date(deleteBefore.getTime() - DAY_MS)
    await deleteInBatches(
      transmissions,
      [transmissions.provider, transmissions.transmissionId],
      lt(transmissions.receivedAt, unbindBefore),
    )

    // Rejection counts only feed the last-day statistics.
    const oldMinute = Math.floor(now.getTime() / 60_000) - 2 * 1440
    await deleteInBatches(
      rejections,
      [rejections.provider, rejections.reason, rejections.minute],
      lt(rejections.minute, oldMinute),
    )

    if (result.payloadsPruned > 0 || result.eventsDeleted > 0)
      options.log.info(result, 'retention: pruned old events')
    return result
  }

  // Passes run one after another (the hourly timer may fire while the first one is still going), so that
  // two never work from the same `through` and held windows.
  let last: Promise<unknown> = Promise.resolve()
  return {
    prune(now) {
      const run = last.then(() => pass(now))
      last = run.catch(() => {})
      return run
    },
  }
}
