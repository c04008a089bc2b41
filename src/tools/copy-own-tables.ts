/**
 * The second half of moving to PostgreSQL: the rows of your own tables (what handlers wrote), copied from
 * each table of `handlers/_schema.ts` into its twin of the same export name in `handlers/_schema.pg.ts`.
 *
 * Rows go through Drizzle on both sides, so each column is read and written as its schema declares it: a
 * SQLite `integer({ mode: 'timestamp_ms' })` arrives as a PostgreSQL timestamp, a JSON text as jsonb. A dump
 * of the file cannot do that (SQLite's quoting and its integer dates are refused by psql). Rows whose key is
 * there already are left as they are, so the copy can run again; an auto-numbered key's sequence is moved on
 * past the copied rows, or the next row a handler inserts would take a copied row's number.
 */
import type Database from 'better-sqlite3'
import { and, eq, getTableColumns, getTableName, inArray, is, isNull, type SQL, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import type { NodePgDatabase } from 'drizzle-orm/node-postgres'
import { getTableConfig, type PgColumn, PgTable } from 'drizzle-orm/pg-core'
import { SQLiteTable } from 'drizzle-orm/sqlite-core'

const BATCH = 1000

export interface OwnTableCopy {
  /** The table's name in PostgreSQL. */
  table: string
  copied: number
  /** Of those, rows whose auto-numbered key PostgreSQL had given to another row: copied under a new number. */
  renumbered: number
  /** Rows PostgreSQL already had (copied by an earlier run, or with a key written there since). */
  present: number
}

/** The PostgreSQL column types whose values come from a sequence when not given. */
const SEQUENCED = new Set(['PgSerial', 'PgSmallSerial', 'PgBigSerial53', 'PgBigSerial64'])

/** The table's primary key when it is one auto-numbered column (its property name and column). */
function numberedKey(table: PgTable): { key: string; column: PgColumn } | undefined {
  const config = getTableConfig(table)
  const composite = config.primaryKeys[0]?.columns ?? []
  const keys = composite.length > 0 ? composite : config.columns.filter((c) => c.primary)
  const [only] = keys
  if (keys.length !== 1 || !only || !SEQUENCED.has(only.columnType)) return undefined
  const key = Object.entries(getTableColumns(table)).find(([, c]) => c === only)?.[0]
  return key === undefined ? undefined : { key, column: only }
}

/** The same values, as Drizzle reads them from either database (dates as Dates, JSON as objects). */
function sameRow(there: Record<string, unknown>, row: Record<string, unknown>): boolean {
  const plain = (v: unknown) =>
    v instanceof Date ? v.getTime() : typeof v === 'object' ? JSON.stringify(v) : v
  return Object.entries(row).every(([prop, value]) => plain(there[prop]) === plain(value))
}

/** Whether PostgreSQL can tell a row already there: a primary key or a unique constraint or index. */
function hasKey(table: PgTable): boolean {
  const config = getTableConfig(table)
  return (
    config.primaryKeys.length > 0 ||
    config.uniqueConstraints.length > 0 ||
    config.indexes.some((i) => i.config.unique) ||
    config.columns.some((c) => c.primary || c.isUnique)
  )
}

export async function copyOwnTables(options: {
  source: Database.Database
  target: NodePgDatabase
  /** The schema hookinbox's tables (and so, by the same migrations, yours) are in. */
  targetSchema: string
  sqliteTables: Record<string, unknown>
  pgTables: Record<string, unknown>
  log: (line: string) => void
}): Promise<OwnTableCopy[]> {
  const { source, target, log } = options
  const from = drizzle(source)
  const done: OwnTableCopy[] = []
  for (const [name, table] of Object.entries(options.sqliteTables)) {
    if (!is(table, SQLiteTable)) continue
    const twin = options.pgTables[name]
    const fileName = getTableName(table)
    if (!is(twin, PgTable)) {
      log(`your table ${fileName} not copied: _schema.pg.ts exports no table named ${name}`)
      continue
    }
    const created = source
      .prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?")
      .get(fileName) as { sql: string } | undefined
    if (created === undefined) {
      log(`your table ${fileName} not copied: the SQLite file has no such table`)
      continue
    }
    const columns = getTableColumns(table)
    const twinColumns = getTableColumns(twin)
    const missing = Object.keys(columns).filter((key) => !(key in twinColumns))
    if (missing.length > 0) {
      log(`your table ${fileName} not copied: its twin ${name} in _schema.pg.ts lacks ${missing.join(', ')}`)
      continue
    }
    const pgName = getTableName(twin)
    if (!hasKey(twin)) {
      // Without a key a second run would copy every row again: such a table is only copied into emptiness.
      const [row] = await target.select({ n: sql<number>`count(*)::int` }).from(twin)
      if ((row?.n ?? 0) > 0) {
        log(`your table ${pgName} not copied: it has no primary key and already holds rows in PostgreSQL`)
        continue
      }
    }

    const copy: OwnTableCopy = { table: pgName, copied: 0, renumbered: 0, present: 0 }
    const numbered = numberedKey(twin)
    const insert = async (rows: Array<Record<string, unknown>>) => {
      if (!numbered) {
        const result = await target.insert(twin).values(rows).onConflictDoNothing()
        copy.copied += result.rowCount ?? 0
        copy.present += rows.length - (result.rowCount ?? 0)
        return
      }
      // An auto-numbered key says nothing of the row: when PostgreSQL took writes of its own after an earlier
      // run, the number of a row still to copy may be another row's there. Such a row is copied under a new
      // number, unless an equal row is there already (an earlier run renumbered it).
      const { key, column } = numbered
      const inserted = await target.insert(twin).values(rows).onConflictDoNothing().returning({ key: column })
      copy.copied += inserted.length
      const taken = new Set(inserted.map((r) => String(r.key)))
      const skipped = rows.filter((r) => !taken.has(String(r[key])))
      if (skipped.length === 0) return
      const there = await target
        .select()
        .from(twin)
        .where(
          inArray(
            column,
            skipped.map((r) => r[key]),
          ),
        )
      const byKey = new Map(there.map((r) => [String((r as Record<string, unknown>)[key]), r]))
      for (const row of skipped) {
        const existing = byKey.get(String(row[key])) as Record<string, unknown> | undefined
        if (existing && sameRow(existing, row)) {
          copy.present++
          continue
        }
        const { [key]: _, ...rest } = row
        const equal = Object.entries(rest)
          .filter(([prop]) => twinColumns[prop]?.columnType !== 'PgJson')
          .map(([prop, value]) => {
            const col = twinColumns[prop] as PgColumn
            return value === null || value === undefined ? isNull(col) : eq(col, value)
          })
        const [copied] = await target
          .select({ one: sql`1` })
          .from(twin)
          .where(and(...equal))
          .limit(1)
        if (copied) {
          copy.present++
          continue
        }
        await target.insert(twin).values(rest)
        copy.copied++
        copy.renumbered++
      }
    }
    if (/\bWITHOUT\s+ROWID\s*$/i.test(created.sql)) {
      // No rowid to go by: read at once (such tables are small lookup tables in practice).
      const rows = from.select(columns).from(table).all() as Array<Record<string, unknown>>
      for (let i = 0; i < rows.length; i += BATCH) await insert(rows.slice(i, i + BATCH))
    } else {
      for (let after = 0; ; ) {
        const batch = from
          .select({ ...columns, hookinbox_rowid: sql<number>`rowid` })
          .from(table)
          .where(sql`rowid > ${after}`)
          .orderBy(sql`rowid`)
          .limit(BATCH)
          .all() as Array<Record<string, unknown> & { hookinbox_rowid: number }>
        if (batch.length === 0) break
        after = batch[batch.length - 1]?.hookinbox_rowid as number
        await insert(batch.map(({ hookinbox_rowid: _, ...row }) => row))
      }
    }

    // The next number a sequence gives must come after every copied one (and never go back).
    for (const column of Object.values(twinColumns)) {
      if (!SEQUENCED.has(column.columnType)) continue
      const qualified = sql`format('%I.%I', ${options.targetSchema}::text, ${pgName}::text)`
      const sequence: SQL = sql`pg_get_serial_sequence(${qualified}, ${column.name})`
      await target.execute(
        sql`SELECT setval(${sequence}, greatest(nextval(${sequence}), m))
            FROM (SELECT max(${sql.identifier(column.name)}) AS m FROM ${twin}) AS copied
            WHERE m IS NOT NULL`,
      )
    }
    const renumbered = copy.renumbered > 0 ? ` (${copy.renumbered} under a new number: theirs was taken)` : ''
    log(`your table ${pgName}: ${copy.copied} rows copied${renumbered}, ${copy.present} already there`)
    done.push(copy)
  }
  return done
}
