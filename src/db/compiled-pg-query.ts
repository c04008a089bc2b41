/**
 * A Drizzle query compiled once to SQL text for node-postgres, for the PostgreSQL inbox's hot path.
 *
 * Building a query through Drizzle on every call (walking the SQL chunks, entity checks, value mapping) cost
 * about a third of the service's CPU per event on PostgreSQL, more than the statements themselves. Here
 * Drizzle writes the SQL once, from the schema, with named placeholders, and each call only binds values.
 * The text is sent as an unnamed statement, exactly as Drizzle sends its own queries, so nothing changes
 * for a connection pooler in front of the database.
 *
 * Values are passed as the driver takes them: timestamps as ISO strings (as Drizzle encodes them). Rows come
 * back as arrays of the text PostgreSQL sent (or null), in the order of the selected columns: a bigint, an
 * integer and a timestamp are all strings, for the caller to convert. Not through node-postgres's type
 * parsers, which are process-wide: a handler's module (or a library it uses) may change them with
 * pg.types.setTypeParser, and Drizzle's own queries do not depend on them either.
 */
import { type SQL, type SQLWrapper, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import { PgDialect } from 'drizzle-orm/pg-core'
import type pg from 'pg'
import { compileParams } from './compiled-statement.ts'

/** A connection or a pool: anything that runs a query in array mode. */
interface Queryable {
  query(config: pg.QueryArrayConfig): Promise<pg.QueryArrayResult>
}

export interface CompiledPgQuery<Values extends Record<string, unknown>> {
  /** Runs the query on `client` (a connection, in the caller's transaction, or the pool); rows as arrays of text. */
  run(client: Queryable, values: Values): Promise<(string | null)[][]>
  readonly text: string
}

/** Builds queries for compiling only; it has no connection, so nothing built with it can run. */
export const pgBuilder = drizzle.mock()

const dialect = new PgDialect()

/** Every column as its text (see above), whatever parsers the process has set. */
const asText = { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig

export function compilePgQuery<Values extends Record<string, unknown>>(
  query: (SQLWrapper & { toSQL(): { sql: string; params: unknown[] } }) | SQL,
): CompiledPgQuery<Values> {
  const { sql: text, params } = 'toSQL' in query ? query.toSQL() : dialect.sqlToQuery(query)
  const bind = compileParams<Values>(text, params)
  return {
    text,
    async run(client, values) {
      const result = await client.query({ text, values: bind(values), rowMode: 'array', types: asText })
      return result.rows as (string | null)[][]
    },
  }
}

/** A placeholder where Drizzle's types want SQL (UPDATE … SET, enum columns). */
export const pgPlaceholder = (name: string) => sql`${sql.placeholder(name)}`
