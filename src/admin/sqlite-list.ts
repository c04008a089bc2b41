/**
 * The history list on SQLite. Its queries run on the admin's read thread (db/read-thread.ts), so deliveries
 * never wait for them, but one query still runs to its end before the thread takes the next, an operator's
 * click included. The `q` and time filters have indexes, but those yield matches in their own order, so
 * SQLite sorted every match to find the newest: a search for `evt_` took 2 s on 10 million events (on the
 * event loop then, holding every delivery). Walking the arrival order instead stops after one page, but for a
 * rare match it reads the whole table.
 *
 * A type with a provider or a status is walked the same way: their indexes yield the newest first, but the
 * one walked may hold many events that the other filter drops.
 *
 * So the matches of the filter's index are counted first, up to FEW: if there are at most that many, that
 * index is used and its matches sorted (a bounded cost); if more, the arrival order is walked, in windows of
 * CHUNK sequence numbers, other reads (and, on an in-memory database, deliveries) going between them, until
 * the page is full. A window costs a few milliseconds whatever the filter, so however long a list of rare old
 * matches takes, the admin's other requests go on.
 */
import { and, count, gte, lt, max, min, sql } from 'drizzle-orm'
import type { Tables } from '../db/tables.ts'
import { AppError } from '../errors.ts'
import type { QueryDb } from '../inbox/inbox.ts'
import { nextTurn } from '../next-turn.ts'
import { holdsNul, type IndexChoice, listQuery, prefixEnd, type Walk } from './event-history.ts'
import type { ListRequest } from './list-filter.ts'

const clientGone = () =>
  new AppError('client_aborted', 'the client closed the connection before the list was complete', {
    reason: 'client_aborted',
  })

export interface SqliteListLimits {
  /** Matches of one filter's index that are sorted rather than walked (5,000). */
  few: number
  /** Sequence numbers per window of the walk (2,000). */
  chunk: number
}

export const DEFAULT_LIMITS: SqliteListLimits = { few: 5_000, chunk: 2_000 }

/** How many rows `where` matches, counted up to `cap + 1` through the index it names. */
async function countUpTo(db: QueryDb, tables: Tables, where: ReturnType<typeof and>, cap: number) {
  const { events } = tables
  const matches = db
    .select({ one: sql`1` })
    .from(events)
    .where(where)
    .limit(cap + 1)
    .as('matches')
  const [row] = await db.select({ n: count() }).from(matches)
  return row?.n ?? 0
}

/** Which index serves the request within bounded work, or `seq` when none does (see the file's comment). */
export async function chooseIndex(
  db: QueryDb,
  request: ListRequest,
  tables: Tables,
  few: number,
): Promise<IndexChoice | undefined> {
  const { events } = tables
  const { q, since, until } = request
  if (q === undefined && since === undefined && until === undefined) {
    // A type with a provider or a status walks one of their indexes and checks the other row by row: all of
    // a type's events when none matches (0.6 s on 3 million events). No counts are kept per type to choose
    // (as there are for status and provider), so the walk goes window by window.
    return request.type !== undefined && (request.provider !== undefined || request.status !== undefined)
      ? 'seq'
      : undefined
  }
  // Such a filter matches nothing, and is answered so without reading a row (filterConditions).
  if (holdsNul(q) || holdsNul(request.type)) return undefined
  if (q !== undefined) {
    const end = prefixEnd(q)
    const ids = await countUpTo(db, tables, and(gte(events.eventId, q), lt(events.eventId, end)), few)
    const types =
      ids > few ? 0 : await countUpTo(db, tables, and(gte(events.type, q), lt(events.type, end)), few)
    if (ids + types <= few) return 'q'
  }
  if (since !== undefined || until !== undefined) {
    const window = and(
      since ? gte(events.receivedAt, since) : undefined,
      until ? lt(events.receivedAt, until) : undefined,
    )
    if ((await countUpTo(db, tables, window, few)) <= few) return 'time'
  }
  return 'seq'
}

/** One page of the history, newest first, plus one more row when there is a next page (as listQuery). */
export async function listOnSqlite(
  db: QueryDb,
  request: ListRequest,
  tables: Tables,
  walk: Walk | undefined,
  limits: SqliteListLimits = DEFAULT_LIMITS,
  signal?: AbortSignal,
) {
  const only = await chooseIndex(db, request, tables, limits.few)
  if (only !== 'seq') return listQuery(db, request, tables, walk, only ? { only } : {})
  const { events } = tables
  // Two queries: SQLite reads min() or max() of the key from one end of it, but both at once from a scan of
  // the table (1.7 s on 10 million events).
  const [lowest] = await db.select({ seq: min(events.seq) }).from(events)
  const [highest] = await db.select({ seq: max(events.seq) }).from(events)
  const first = lowest?.seq ?? 0
  type Row = Awaited<ReturnType<typeof listQuery>>[number]
  const rows: Row[] = []
  let before = Math.min(request.before ?? Number.POSITIVE_INFINITY, (highest?.seq ?? 0) + 1)
  while (before > first && rows.length <= request.limit) {
    // Nobody waits for the page any more (the operator closed the tab): the thread is free for other reads.
    if (signal?.aborted) throw clientGone()
    const from = Math.max(first, before - limits.chunk)
    const found = await listQuery(
      db,
      { ...request, limit: request.limit - rows.length, before },
      tables,
      walk,
      { only: 'seq', from },
    )
    rows.push(...found)
    before = from
    if (rows.length <= request.limit && before > first) await nextTurn()
  }
  return rows
}
