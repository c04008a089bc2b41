/**
 * Keeping `hookinbox_status_counts` right: every status change adjusts it in the transaction that makes
 * the change, and a database that predates the table is counted once at start-up.
 */
import { sql } from 'drizzle-orm'
import type { QueryDb } from '../inbox/inbox.ts'
import type { Tables } from './tables.ts'

/** On PostgreSQL concurrent transactions spread their increments over this many rows per key. */
export const COUNT_SHARDS = 8

export async function adjustStatusCount(
  db: QueryDb,
  tables: Tables,
  change: { provider: string; status: string; delta: number; shard: number },
): Promise<void> {
  const { statusCounts } = tables
  await db
    .insert(statusCounts)
    .values({
      provider: change.provider,
      status: change.status as 'processed',
      shard: change.shard,
      n: change.delta,
    })
    .onConflictDoUpdate({
      target: [statusCounts.provider, statusCounts.status, statusCounts.shard],
      set: { n: sql`${statusCounts.n} + ${change.delta}` },
    })
}

/** Counts the events once if the table is empty but events exist (a database from before the table). */
export async function backfillStatusCounts(db: QueryDb, tables: Tables): Promise<boolean> {
  const { statusCounts, events } = tables
  const [anyCount] = await db.select({ n: statusCounts.n }).from(statusCounts).limit(1)
  if (anyCount) return false
  const [anyEvent] = await db.select({ seq: events.seq }).from(events).limit(1)
  if (!anyEvent) return false
  await db.insert(statusCounts).select(
    db
      .select({
        provider: events.provider,
        status: events.status,
        shard: sql<number>`0`.as('shard'),
        n: sql<number>`count(*)`.as('n'),
      })
      .from(events)
      .groupBy(events.provider, events.status),
  )
  return true
}
