/**
 * A PostgreSQL timestamp as Unix milliseconds, for reading one back exactly. Its text does not parse back for
 * a time far from today (`new Date('0001-01-01 00:00:00+00')` is year 2001, and old dates carry offsets in
 * seconds), and a provider's time can be anything from year 1 to 9999. Exact from PostgreSQL 14, where
 * extract() returns numeric.
 */
import { type SQL, type SQLWrapper, sql } from 'drizzle-orm'

export const pgEpochMs = (column: SQLWrapper): SQL<number | null> =>
  sql<number | null>`floor(extract(epoch from ${column}) * 1000)`
