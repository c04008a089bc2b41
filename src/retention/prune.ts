/**
 * Retention. Payloads and attempt logs of settled events are deleted after RETENTION_DAYS; the bare event
 * (id, status, times) is kept for DEDUP_KEEP_DAYS, so a very late provider retry is still recognised as a
 * duplicate, and then deleted. Failed and parked events keep their payload (an operator may still replay
 * them) until they are deleted with the rest.
 *
 * Work goes in windows of the arrival sequence, each a small transaction through the inbox's writer, so a
 * pass over millions of events never holds up deliveries for more than a few milliseconds at a time.
 */
import { and, desc, gt, inArray, isNotNull, lt, lte, sql } from 'drizzle-orm'
import type { Logger } from 'pino'
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

export function createPruner(options: PruneOptions): Pruner {
  const { events, attempts, rejections, objectVersions } = options.tables
  // Everything at or below these sequence numbers was handled by an earlier pass of this process.
  let prunedThrough = 0
  let deletedThrough = 0

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

  return {
    async prune(now) {
      const result: PruneResult = { payloadsPruned: 0, eventsDeleted: 0 }

      const deleteUpTo = await boundary(new Date(now.getTime() - options.dedupKeepDays * DAY_MS))
      for (let from = deletedThrough; from < deleteUpTo; from += WINDOW) {
        const to = Math.min(from + WINDOW, deleteUpTo)
        result.eventsDeleted += await options.maintain(async (db) => {
          const window = and(gt(events.seq, from), lte(events.seq, to))
          const leaving = await db
            .select({
              provider: events.provider,
              status: events.status,
              n: sql<number>`cast(count(*) as integer)`,
            })
            .from(events)
            .where(window)
            .groupBy(events.provider, events.status)
          for (const l of leaving) {
            await adjustStatusCount(db, options.tables, {
              provider: l.provider,
              status: l.status,
              delta: -Number(l.n),
              shard: 0,
            })
          }
          await db.delete(attempts).where(and(gt(attempts.eventSeq, from), lte(attempts.eventSeq, to)))
          const deleted = await db.delete(events).where(window).returning({ seq: events.seq })
          return deleted.length
        })
        deletedThrough = to
      }

      const pruneUpTo = await boundary(new Date(now.getTime() - options.retentionDays * DAY_MS))
      for (let from = Math.max(prunedThrough, deletedThrough); from < pruneUpTo; from += WINDOW) {
        const to = Math.min(from + WINDOW, pruneUpTo)
        result.payloadsPruned += await options.maintain(async (db) => {
          const window = and(
            gt(events.seq, from),
            lte(events.seq, to),
            inArray(events.status, ['processed', 'ignored']),
          )
          await db
            .delete(attempts)
            .where(
              and(
                gt(attempts.eventSeq, from),
                lte(attempts.eventSeq, to),
                sql`${attempts.eventSeq} IN (SELECT ${events.seq} FROM ${events} WHERE ${window})`,
              ),
            )
          const pruned = await db
            .update(events)
            .set({ payload: null })
            .where(and(window, isNotNull(events.payload)))
            .returning({ seq: events.seq })
          return pruned.length
        })
        prunedThrough = to
      }

      // Out-of-order bookkeeping lives as long as event ids do: an older event could not arrive after that.
      const keepSince = new Date(now.getTime() - options.dedupKeepDays * DAY_MS)
      await options.maintain((db) =>
        db.delete(objectVersions).where(lt(objectVersions.occurredAt, keepSince)),
      )

      // Rejection counts only feed the last-day statistics.
      const oldMinute = Math.floor(now.getTime() / 60_000) - 2 * 1440
      await options.maintain((db) => db.delete(rejections).where(lt(rejections.minute, oldMinute)))

      if (result.payloadsPruned > 0 || result.eventsDeleted > 0)
        options.log.info(result, 'retention: pruned old events')
      return result
    },
  }
}
