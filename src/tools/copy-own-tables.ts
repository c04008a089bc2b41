/**
 * The second half of moving to PostgreSQL: the rows of your own tables (what handlers wrote), copied from
 * each table of `handlers/_schema.ts` into its twin of the same export name in `handlers/_schema.pg.ts`.
 *
 * Rows go through Drizzle on both sides, so each column is read and written as its schema declares it: a
 * SQLite `integer({ mode: 'timestamp_ms' })` arrives as a PostgreSQL timestamp, a JSON text as jsonb. A dump
 * of the file cannot do that (SQLite's quoting and its integer dates are refused by psql).
 *
 * A table is copied only into an empty twin, whole, in one transaction that locks it: a run stopped half-way
 * leaves it empty, and a run after the instances have written to it never guesses. (Which of two rows under
 * one auto-numbered key is the newer, a row deleted there since, a row changed on both sides: any merge would
 * get some of these wrong, and these are the rows that hold the money.) Auto-numbering continues after the
 * copied rows, or a handler's next insert would take a copied row's number.
 */
import type Database from 'better-sqlite3'
import { getTableColumns, getTableName, is, type SQL, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/better-sqlite3'
import type { NodePgDatabase } from 'drizzle-orm/node-postgres'
import { getTableConfig, type PgColumn, PgTable } from 'drizzle-orm/pg-core'
import { SQLiteTable } from 'drizzle-orm/sqlite-core'

const BATCH = 1000

export interface OwnTableCopy {
  /** The table's name in PostgreSQL. */
  table: string
  /** Rows copied; 0 when the table was left as it was (see `skipped`). */
  copied: number
  /** Why the table was not copied, when it was not. */
  skipped?: string
}

/** The PostgreSQL column types whose values come from a sequence when not given. */
const SERIAL = new Set(['PgSerial', 'PgSmallSerial', 'PgBigSerial53', 'PgBigSerial64'])

/** A serial column, or an identity column (`generatedByDefaultAsIdentity()`, `generatedAlwaysAsIdentity()`). */
const autoNumbered = (c: PgColumn): boolean => SERIAL.has(c.columnType) || c.generatedIdentity !== undefined

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
    const leave = (pgName: string, why: string) => {
      log(`your table ${pgName}: not copied, ${why}`)
      done.push({ table: pgName, copied: 0, skipped: why })
    }
    if (!is(twin, PgTable)) {
      leave(fileName, `_schema.pg.ts exports no table named ${name}`)
      continue
    }
    const pgName = getTableName(twin)
    const twinSchema = getTableConfig(twin).schema
    const created = source
      .prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?")
      .get(fileName) as { sql: string } | undefined
    if (created === undefined) {
      leave(pgName, `the SQLite file has no table ${fileName}`)
      continue
    }
    const columns = getTableColumns(table)
    const twinColumns = getTableColumns(twin)
    const missing = Object.keys(columns).filter((key) => !(key in twinColumns))
    if (missing.length > 0) {
      leave(pgName, `its twin ${name} in _schema.pg.ts lacks ${missing.join(', ')}`)
      continue
    }

    const copied = await target.transaction(async (tx) => {
      // Handlers of running instances wait to write it until the copy commits; their reads go on.
      await tx.execute(sql`LOCK TABLE ${twin} IN EXCLUSIVE MODE`)
      const [held] = await tx.select({ n: sql<number>`count(*)::int` }).from(twin)
      if ((held?.n ?? 0) > 0) return { heldAlready: held?.n ?? 0 }
      // An identity column GENERATED ALWAYS takes a copied row's own number only with OVERRIDING SYSTEM VALUE.
      const always = Object.values(twinColumns).some((c) => c.generatedIdentity?.type === 'always')
      let n = 0
      const insert = async (rows: Array<Record<string, unknown>>) => {
        if (rows.length === 0) return
        await (always ? tx.insert(twin).overridingSystemValue() : tx.insert(twin)).values(rows)
        n += rows.length
      }
      // SQLite's own answer, not a pattern on the CREATE text (`WITHOUT ROWID, STRICT` ends otherwise).
      const withoutRowid = source
        .prepare("SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?")
        .get(fileName) as { wr: number } | undefined
      if (withoutRowid?.wr === 1) {
        // No rowid to go by: read at once (such tables are small lookup tables in practice).
        const rows = from.select(columns).from(table).all() as Array<Record<string, unknown>>
        for (let i = 0; i < rows.length; i += BATCH) await insert(rows.slice(i, i + BATCH))
      } else {
        // From the first rowid, whatever it is: an INTEGER PRIMARY KEY is the rowid, and 0 or negative ones are
        // valid (a walk from 0 dropped those rows, and reported the rest as the whole table).
        for (let after: number | undefined; ; ) {
          const batch = from
            .select({ ...columns, hookinbox_rowid: sql<number>`rowid` })
            .from(table)
            .where(after === undefined ? undefined : sql`rowid > ${after}`)
            .orderBy(sql`rowid`)
            .limit(BATCH)
            .all() as Array<Record<string, unknown> & { hookinbox_rowid: number }>
          if (batch.length === 0) break
          after = batch[batch.length - 1]?.hookinbox_rowid as number
          await insert(batch.map(({ hookinbox_rowid: _, ...row }) => row))
        }
      }
      // The next number a sequence gives must come after every copied one.
      for (const column of Object.values(twinColumns)) {
        if (!autoNumbered(column)) continue
        // The schema the twin names (pgSchema), as LOCK and the inserts used; else the connection's.
        const qualified = sql`format('%I.%I', ${twinSchema ?? options.targetSchema}::text, ${pgName}::text)`
        const sequence: SQL = sql`pg_get_serial_sequence(${qualified}, ${column.name})`
        await tx.execute(
          sql`SELECT setval(${sequence}, m) FROM (SELECT max(${sql.identifier(column.name)}) AS m FROM ${twin}) AS c
              WHERE m IS NOT NULL`,
        )
      }
      return { copied: n }
    })
    if ('heldAlready' in copied) {
      leave(
        pgName,
        `PostgreSQL holds ${copied.heldAlready} rows of it already (copied by an earlier run, or written there ` +
          'since): copy what it lacks yourself, or, if all it holds came from an earlier run of this tool, ' +
          'empty it there while no instance runs and run again',
      )
      continue
    }
    log(`your table ${pgName}: ${copied.copied} rows copied`)
    done.push({ table: pgName, copied: copied.copied })
  }
  return done
}
