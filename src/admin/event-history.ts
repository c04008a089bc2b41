/**
 * Read-side queries over the event history, on the read connection (they never wait for the writer).
 * Paging is keyset on the arrival sequence (newest first, no OFFSET): events that arrive while an operator
 * pages get higher sequence numbers than every page already read, so each event is listed exactly once.
 */
import { and, asc, desc, eq, gt, gte, is, lt, or, type SQL, type SQLWrapper, sql } from 'drizzle-orm'
import { PgTable } from 'drizzle-orm/pg-core'
import { pgEpochMs } from '../db/pg-epoch-ms.ts'
import type { EventStatus } from '../db/schema.ts'
import { sqliteTables, type Tables } from '../db/tables.ts'
import type { QueryDb } from '../inbox/inbox.ts'
import { type EventFilter, encodeCursor, type ListRequest } from './list-filter.ts'
import { listOnSqlite, type SqliteListLimits } from './sqlite-list.ts'

export interface EventSummary {
  provider: string
  eventId: string
  type: string
  status: EventStatus
  attempts: number
  receivedAt: string
  /** The provider's own time of the event (see HandlerEvent.occurredAt); null when it gave none. */
  occurredAt: string | null
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

export interface EventPage {
  events: EventSummary[]
  nextCursor: string | null
}

export interface Stats {
  events: Record<string, Partial<Record<EventStatus, number>>>
  rejected: Record<string, { lastHour: number; lastDay: number }>
}

export interface EventHistory {
  getEvent(provider: string, eventId: string): Promise<EventDetail | undefined>
  /** `signal`: the request's; once its client is gone, a long walk on SQLite stops at its next window. */
  list(request: ListRequest, signal?: AbortSignal): Promise<EventPage>
  /** Failed and parked events matching the filter, oldest first, `limit` at a time after `afterSeq`. */
  replayable(
    filter: EventFilter,
    afterSeq: number,
    limit: number,
  ): Promise<Array<{ seq: number; provider: string; eventId: string; type: string; status: EventStatus }>>
  stats(now: Date): Promise<Stats>
}

const iso = (d: Date | null) => (d ? d.toISOString() : null)

const summaryColumnsOf = (events: Tables['events']) => ({
  seq: events.seq,
  provider: events.provider,
  eventId: events.eventId,
  type: events.type,
  status: events.status,
  attempts: events.attempts,
  receivedAt: events.receivedAt,
  processedAt: events.processedAt,
  lastError: events.lastError,
  handlers: events.handlers,
  duplicates: events.duplicates,
  lastSeenAt: events.lastSeenAt,
})
const summaryColumns = summaryColumnsOf(sqliteTables.events)

/** The provider's time in milliseconds, as SQLite stores it (on PostgreSQL, see pgEpochMs). */
const occurredAtMsOf = (events: Tables['events']) =>
  (is(events, PgTable) ? pgEpochMs(events.occurredAt) : sql<number | null>`${events.occurredAt}`).mapWith(
    Number,
  )

type SummaryRow = {
  [K in keyof typeof summaryColumns]:
    | (typeof summaryColumns)[K]['_']['data']
    | ((typeof summaryColumns)[K]['_']['notNull'] extends true ? never : null)
} & { occurredAtMs: number | null }

function toSummary(row: SummaryRow): EventSummary {
  return {
    provider: row.provider,
    eventId: row.eventId,
    type: row.type,
    status: row.status,
    attempts: row.attempts,
    receivedAt: row.receivedAt.toISOString(),
    occurredAt: row.occurredAtMs === null ? null : new Date(row.occurredAtMs).toISOString(),
    processedAt: iso(row.processedAt),
    lastError: row.lastError,
    handlers: row.handlers ? (JSON.parse(row.handlers) as string[]) : [],
    duplicates: row.duplicates,
    lastSeenAt: iso(row.lastSeenAt),
  }
}

export const holdsNul = (value: string | undefined) => value?.includes('\u0000') === true

/** The smallest string greater than every string starting with `prefix` (for index-friendly prefix ranges). */
export const prefixEnd = (prefix: string) => `${prefix}\u{10FFFF}`

/**
 * The index a list walks when it filters on status and provider at once. SQLite keeps no statistics here
 * and may walk the provider index newest first, checking the status row after row: "failed Stripe events"
 * measured 54 ms p50 on 10 million events (1 % failed) where the status index finds them at once. Which of
 * the two is the smaller set depends on the data (`ignored` is most events where few types have handlers),
 * so it is chosen from the exact counts kept per provider and status (`indexToWalk`).
 */
export type Walk = 'status' | 'provider'

/**
 * Which index a query must use on SQLite, where the planner's own choice can take seconds (see
 * sqlite-list.ts): `q` or `time` use only that filter's index, every other filter is checked row by row, and
 * the matches are sorted (there are few); `seq` walks the arrival order (within a window of it), checking `q`
 * and the time row by row; `status` walks the status index (the bulk replay's failed and parked).
 */
export type IndexChoice = 'q' | 'time' | 'seq' | 'status'

export function filterConditions(
  filter: EventFilter,
  events: Tables['events'],
  walk?: Walk,
  only?: IndexChoice,
): SQL[] {
  const conds: SQL[] = []
  // No stored id or type holds U+0000 (event-key.ts refuses them), and PostgreSQL refuses it in any text
  // parameter: such a filter matches nothing, on every store, without asking the database.
  if (holdsNul(filter.type) || holdsNul(filter.q)) return [sql`1 = 0`]
  // A column whose index must not be walked is compared in a form no index serves (`col || ''` or `col + 0`,
  // the same in SQLite and PostgreSQL).
  const hidden = (column: SQLWrapper, hide: boolean) => (hide ? sql`(${column} || '')` : column)
  const hiddenNumber = (column: SQLWrapper, hide: boolean) => (hide ? sql`(${column} + 0)` : column)
  const onlyOther = only === 'q' || only === 'time' || only === 'status'
  if (filter.provider)
    conds.push(eq(hidden(events.provider, walk === 'status' || onlyOther), filter.provider))
  if (filter.type) conds.push(eq(hidden(events.type, onlyOther), filter.type))
  if (filter.status)
    conds.push(
      eq(hidden(events.status, walk === 'provider' || only === 'q' || only === 'time'), filter.status),
    )
  // Drizzle maps a Date to the column's stored form only when compared with the column itself.
  const hideTime = only === 'q' || only === 'seq' || only === 'status'
  if (filter.since)
    conds.push(
      hideTime
        ? sql`${hiddenNumber(events.receivedAt, true)} >= ${filter.since.getTime()}`
        : gte(events.receivedAt, filter.since),
    )
  if (filter.until)
    conds.push(
      hideTime
        ? sql`${hiddenNumber(events.receivedAt, true)} < ${filter.until.getTime()}`
        : lt(events.receivedAt, filter.until),
    )
  if (filter.q) {
    const q = filter.q
    // The range is what an index serves. In SQLite (binary collation) it holds exactly the strings that start
    // with q; in a PostgreSQL database created with a linguistic collation (en_US, ICU) it also holds those
    // that differ in case or accents, which PostgreSQL's starts-with operator then drops. Not substr() = q:
    // the planner guesses that keeps 0.5 % of rows and, for a broad prefix, sorts every match instead of
    // walking the newest first (0.2 → 13 ms on 300,000 rows).
    const postgres = is(events, PgTable)
    const hideQ = only === 'time' || only === 'seq' || only === 'status'
    const startsWith = (column: SQLWrapper) =>
      and(
        gte(hidden(column, hideQ), q),
        lt(hidden(column, hideQ), prefixEnd(q)),
        postgres ? sql`${column} ^@ ${q}` : undefined,
      )
    conds.push(or(startsWith(events.eventId), startsWith(events.type)) as SQL)
  }
  return conds
}

/**
 * Events per provider and status, summed over the shards of `hookinbox_status_counts`: kept up to date by
 * every status change (see db/status-counts.ts), so no scan of the events.
 */
async function keptCounts(db: QueryDb, { statusCounts }: Tables) {
  const counts = await db
    .select({
      provider: statusCounts.provider,
      status: statusCounts.status,
      n: sql<number>`cast(sum(${statusCounts.n}) as integer)`,
    })
    .from(statusCounts)
    .groupBy(statusCounts.provider, statusCounts.status)
  return counts.map((c) => ({ provider: c.provider, status: c.status, n: Number(c.n) }))
}

/** For a filter on both status and provider: the smaller of the two sets, by the kept counts. */
export async function indexToWalk(
  db: QueryDb,
  filter: EventFilter,
  tables: Tables = sqliteTables,
): Promise<Walk | undefined> {
  if (!filter.status || !filter.provider) return undefined
  const counts = await keptCounts(db, tables)
  let withStatus = 0
  let withProvider = 0
  for (const c of counts) {
    if (c.status === filter.status) withStatus += c.n
    if (c.provider === filter.provider) withProvider += c.n
  }
  return withStatus <= withProvider ? 'status' : 'provider'
}

/**
 * One page of the history, newest first (one more row than asked for: it tells whether a next page exists).
 * `only` and `from` (the lowest seq to look at) are for the SQLite list's bounded plans (sqlite-list.ts).
 */
export function listQuery(
  db: QueryDb,
  request: ListRequest,
  tables: Tables = sqliteTables,
  walk?: Walk,
  plan: { only?: IndexChoice; from?: number } = {},
) {
  const { events } = tables
  const conds = filterConditions(request, events, walk, plan.only)
  // With one filter's index chosen, the arrival order must not be walked instead (nor searched from a
  // cursor: for a list since a time, SQLite preferred `seq < before` to the time index): the matches are
  // sorted.
  const sortMatches = plan.only === 'q' || plan.only === 'time'
  if (request.before !== undefined)
    conds.push(sortMatches ? sql`(${events.seq} + 0) < ${request.before}` : lt(events.seq, request.before))
  if (plan.from !== undefined) conds.push(gte(events.seq, plan.from))
  return db
    .select({ ...summaryColumnsOf(events), occurredAtMs: occurredAtMsOf(events) })
    .from(events)
    .where(conds.length > 0 ? and(...conds) : undefined)
    .orderBy(sortMatches ? sql`${events.seq} + 0 desc` : desc(events.seq))
    .limit(request.limit + 1)
}

/**
 * Events of the bulk replay, oldest first after `afterSeq`: the filter's status, else failed or parked. On
 * SQLite it is asked once per status and walks that status's index, every other filter checked row by row:
 * left to choose, SQLite walked a provider's or a type's events instead (about 1 s on 3 million events),
 * where the failed and parked are few. PostgreSQL plans from its statistics.
 */
export function replayableQuery(
  db: QueryDb,
  filter: EventFilter,
  afterSeq: number,
  limit: number,
  tables: Tables = sqliteTables,
) {
  const { events } = tables
  const postgres = is(events, PgTable)
  const conds = filterConditions(filter, events, undefined, postgres || !filter.status ? undefined : 'status')
  if (!filter.status) conds.push(or(eq(events.status, 'failed'), eq(events.status, 'parked')) as SQL)
  conds.push(gt(events.seq, afterSeq))
  return db
    .select({
      seq: events.seq,
      provider: events.provider,
      eventId: events.eventId,
      type: events.type,
      status: events.status,
    })
    .from(events)
    .where(and(...conds))
    .orderBy(asc(events.seq))
    .limit(limit)
}

export function createEventHistory(
  db: QueryDb,
  tables: Tables = sqliteTables,
  sqliteLimits?: SqliteListLimits,
): EventHistory {
  const { events, attempts, rejections } = tables
  const columns = summaryColumnsOf(events)
  return {
    async getEvent(provider, eventId) {
      // No event is stored under such an id, and PostgreSQL would refuse the parameter.
      if (holdsNul(eventId)) return undefined
      const [row] = await db
        .select({ ...columns, occurredAtMs: occurredAtMsOf(events), payload: events.payload })
        .from(events)
        .where(and(eq(events.eventId, eventId), eq(events.provider, provider)))
        .limit(1)
      if (!row) return undefined
      const log = await db
        .select()
        .from(attempts)
        .where(eq(attempts.eventSeq, row.seq))
        .orderBy(asc(attempts.id))
      return {
        ...toSummary(row),
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

    async list(request, signal) {
      const walk = await indexToWalk(db, request, tables)
      const rows = is(events, PgTable)
        ? await listQuery(db, request, tables, walk)
        : await listOnSqlite(db, request, tables, walk, sqliteLimits, signal)
      const page = rows.slice(0, request.limit)
      const last = page[page.length - 1]
      return {
        events: page.map(toSummary),
        nextCursor: rows.length > request.limit && last ? encodeCursor(last.seq) : null,
      }
    },

    async replayable(filter, afterSeq, limit) {
      const page = (status: EventStatus | undefined) =>
        replayableQuery(db, status ? { ...filter, status } : filter, afterSeq, limit, tables)
      if (is(events, PgTable) || filter.status) return page(filter.status)
      const [failed, parked] = [await page('failed'), await page('parked')]
      return [...failed, ...parked].sort((a, b) => a.seq - b.seq).slice(0, limit)
    },

    async stats(now) {
      const byProvider: Stats['events'] = {}
      for (const c of await keptCounts(db, tables)) {
        const forProvider = byProvider[c.provider] ?? {}
        if (c.n === 0) continue
        forProvider[c.status] = c.n
        byProvider[c.provider] = forProvider
      }
      const minute = Math.floor(now.getTime() / 60_000)
      const rej = await db
        .select({
          provider: rejections.provider,
          lastHour: sql<number>`cast(coalesce(sum(case when ${rejections.minute} > ${minute - 60} then ${rejections.count} else 0 end), 0) as integer)`,
          lastDay: sql<number>`cast(coalesce(sum(${rejections.count}), 0) as integer)`,
        })
        .from(rejections)
        .where(gt(rejections.minute, minute - 1440))
        .groupBy(rejections.provider)
      const rejected: Stats['rejected'] = {}
      for (const r of rej) rejected[r.provider] = { lastHour: Number(r.lastHour), lastDay: Number(r.lastDay) }
      return { events: byProvider, rejected }
    },
  }
}
