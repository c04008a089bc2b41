/**
 * The filter of the event history, shared by the list API, the bulk replay and the page. Parsing is strict:
 * an invalid parameter is a 400 that names it, never a 500 and never a query that scans for nothing.
 */
import { z } from 'zod'
import { EVENT_STATUSES, type EventStatus } from '../db/schema.ts'
import { AppError } from '../errors.ts'
import { eventTime } from '../providers/event-time.ts'
import { PROVIDER_NAMES, type ProviderName } from '../providers/provider.ts'

export interface EventFilter {
  provider?: ProviderName
  type?: string
  status?: EventStatus
  since?: Date
  until?: Date
  /** Prefix of the event id or of the type. */
  q?: string
}

export interface ListRequest extends EventFilter {
  limit: number
  /** Only events older (lower seq) than this. */
  before?: number
}

export const MAX_LIMIT = 500
const CURSOR_PREFIX = 'v1:'

export const encodeCursor = (seq: number) => Buffer.from(`${CURSOR_PREFIX}${seq}`).toString('base64url')

function decodeCursor(cursor: string): number | undefined {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) return undefined
  const text = Buffer.from(cursor, 'base64url').toString('utf8')
  const m = /^v1:(\d{1,15})$/.exec(text)
  return m ? Number(m[1]) : undefined
}

/**
 * Whether the date part names a real day. Date.parse rolls an impossible one over (`2024-02-30` is taken as
 * 1 March), which would silently move the filter's bound.
 */
function realDay(s: string): boolean {
  const [year, month, day] = s.slice(0, 10).split('-').map(Number) as [number, number, number]
  const date = new Date(0)
  date.setUTCFullYear(year, month - 1, day)
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day
}

/**
 * A date-time without a zone is UTC, as a bare date is and as every time the API answers is. JavaScript
 * would read it in the server's own time zone, so the same filter would select other events on a host
 * whose zone is not UTC.
 */
const inUtc = (s: string) => (s.length > 10 && !/(Z|[+-]\d{2}:?\d{2})$/.test(s) ? `${s}Z` : s)

/** An invalid date passes here: the ISO check above reports it. */
const inStoredYears = (date: Date) => Number.isNaN(date.getTime()) || eventTime(date) !== undefined

const isoDate = z
  .string()
  .max(40)
  .refine(
    (s) =>
      /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(s) &&
      !Number.isNaN(Date.parse(inUtc(s))) &&
      realDay(s),
    {
      message: 'must be an ISO-8601 date or date-time',
    },
  )
  // PostgreSQL's timestamps (and the ISO form they are sent in) end at the years 1 and 9999: a bound outside
  // them was a 500 there. Read as UTC, `0001-01-01T00:00+01:00` is in the year 0.
  .refine((s) => inStoredYears(new Date(inUtc(s))), { message: 'must be between the years 1 and 9999 (UTC)' })
  .transform((s) => new Date(inUtc(s)))

const text = (max: number) => z.string().min(1).max(max)

const FilterSchema = z.object({
  provider: z.enum(PROVIDER_NAMES).optional(),
  type: text(255).optional(),
  status: z.enum(EVENT_STATUSES).optional(),
  since: isoDate.optional(),
  until: isoDate.optional(),
  q: text(255).optional(),
})

function invalid(error: z.ZodError): never {
  const issue = error.issues[0]
  const name = issue?.path.join('.') || 'query'
  throw new AppError('invalid_request', `invalid parameter "${name}": ${issue?.message ?? 'invalid'}`, {
    reason: 'bad_parameter',
  })
}

const FILTER_KEYS: ReadonlySet<string> = new Set(Object.keys(FilterSchema.shape))

const unknownParameter = (name: string): never => {
  throw new AppError('invalid_request', `unknown parameter "${name.slice(0, 40)}"`, {
    reason: 'bad_parameter',
  })
}

/**
 * Parses a filter from query parameters or a JSON body; empty strings mean "not given". An unknown key is
 * refused rather than ignored: in a bulk replay, a misspelt filter would otherwise widen it to every event.
 */
export function parseFilter(input: Record<string, unknown>): EventFilter {
  for (const name of Object.keys(input)) if (!FILTER_KEYS.has(name)) unknownParameter(name)
  const cleaned = Object.fromEntries(
    Object.entries(input).filter(([, v]) => v !== '' && v !== undefined && v !== null),
  )
  const parsed = FilterSchema.safeParse(cleaned)
  if (!parsed.success) invalid(parsed.error)
  const f = parsed.data
  const filter: EventFilter = {}
  if (f.provider) filter.provider = f.provider
  if (f.type) filter.type = f.type
  if (f.status) filter.status = f.status
  if (f.since) filter.since = f.since
  if (f.until) filter.until = f.until
  if (f.q) filter.q = f.q
  return filter
}

export function parseListRequest(query: Record<string, string | undefined>): ListRequest {
  const known = new Set(['provider', 'type', 'status', 'since', 'until', 'q', 'limit', 'cursor'])
  for (const name of Object.keys(query)) if (!known.has(name)) unknownParameter(name)
  const { limit: rawLimit, cursor, ...rest } = query
  const filter = parseFilter(rest)
  let limit = 50
  if (rawLimit !== undefined && rawLimit !== '') {
    if (!/^\d{1,4}$/.test(rawLimit) || Number(rawLimit) < 1 || Number(rawLimit) > MAX_LIMIT) {
      throw new AppError('invalid_request', `invalid parameter "limit": must be 1 to ${MAX_LIMIT}`, {
        reason: 'bad_parameter',
      })
    }
    limit = Number(rawLimit)
  }
  const request: ListRequest = { ...filter, limit }
  if (cursor !== undefined && cursor !== '') {
    const before = decodeCursor(cursor)
    if (before === undefined) {
      throw new AppError('invalid_request', 'invalid parameter "cursor"', { reason: 'bad_parameter' })
    }
    request.before = before
  }
  return request
}
