/**
 * A failed copy of your own tables prints, through errorText, no value of the rows it was copying.
 */
import Database from 'better-sqlite3'
import { drizzle } from 'drizzle-orm/node-postgres'
import * as pgc from 'drizzle-orm/pg-core'
import * as sq from 'drizzle-orm/sqlite-core'
import pg from 'pg'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { errorText, withoutQueryValues } from '../../src/logger.ts'
import { copyOwnTables } from '../../src/tools/copy-own-tables.ts'
import { freshSchema, type PgSchema, postgresAvailable, TEST_DATABASE_URL } from '../support/postgres.ts'
import { tempDir } from '../support/temp-dir.ts'

describe.skipIf(!postgresAvailable)('a failed copy of your own tables', () => {
  const dir = tempDir('own-leak')
  let schema: PgSchema | undefined
  let pool: pg.Pool | undefined
  afterAll(async () => {
    await pool?.end()
    await schema?.drop()
    dir.remove()
  })

  it('says why without the value that broke it', async () => {
    const file = new Database(`${dir.path}/db.sqlite`)
    // SQLite's loose typing keeps a text in an integer column; PostgreSQL refuses it, naming the value.
    file.exec(
      "CREATE TABLE customers (id INTEGER PRIMARY KEY, age INTEGER); INSERT INTO customers VALUES (1, 'jane.doe@example.com')",
    )
    schema = await freshSchema('leak')
    await schema.query('CREATE TABLE customers (id INTEGER PRIMARY KEY, age INTEGER)')
    pool = new pg.Pool({ connectionString: schema.url, max: 2 })
    const err = await copyOwnTables({
      source: file,
      target: drizzle(pool),
      targetSchema: schema.name,
      sqliteTables: {
        customers: sq.sqliteTable('customers', { id: sq.integer('id').primaryKey(), age: sq.text('age') }),
      },
      pgTables: {
        customers: pgc.pgTable('customers', { id: pgc.integer('id').primaryKey(), age: pgc.text('age') }),
      },
      log: () => {},
    }).then(
      () => undefined,
      (e: unknown) => e,
    )
    file.close()
    expect(err).toBeDefined()
    const text = errorText(err)
    expect(text).toMatch(/invalid input syntax for type integer/)
    expect(text).not.toContain('jane.doe')
    // As the service's log lines serialise an error (its causes and their fields).
    const logged = JSON.stringify(pino.stdSerializers.err(withoutQueryValues(err) as Error))
    expect(logged).not.toContain('jane.doe')
  })

  it("keeps a unique violation's key value out of the log line and the tool's message", async () => {
    const client = new pg.Client({ connectionString: TEST_DATABASE_URL })
    await client.connect()
    const err = await client
      .query(
        'CREATE TEMP TABLE emails (email TEXT PRIMARY KEY); INSERT INTO emails VALUES ($$jane.roe@example.com$$), ($$jane.roe@example.com$$)',
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      )
    await client.end()
    expect((err as { detail?: string }).detail).toContain('jane.roe')
    expect(errorText(err)).toMatch(/duplicate key value violates unique constraint/)
    const logged = JSON.stringify(pino.stdSerializers.err(withoutQueryValues(err) as Error))
    expect(logged).toContain('"code":"23505"')
    expect(logged).not.toContain('jane.roe')
  })
})
