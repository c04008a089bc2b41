/**
 * Retention under the pool's query_timeout (openPostgres): a pass over a large backlog must not be one
 * statement that outlasts the timeout, or it is cut short, rolled back, and fails the same way every hour.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openPostgres, type PostgresDatabase } from '../../src/db/postgres.ts'
import { freshSchema, type PgSchema, postgresAvailable } from '../support/postgres.ts'
import { inboxOn, prunerOn } from './pruning.ts'

const DAY = 86_400_000

describe.skipIf(!postgresAvailable)('retention with a query timeout', () => {
  let schema: PgSchema
  let database: PostgresDatabase

  beforeAll(async () => {
    schema = await freshSchema('prunet')
    database = await openPostgres({ url: schema.url, poolSize: 2, queryTimeoutMs: 3000 })
  })
  afterAll(async () => {
    await database?.close()
    await schema?.drop()
  })

  it('deletes a backlog of old transmissions whose single DELETE would outlast the timeout', async () => {
    const old = new Date(Date.now() - 500 * DAY).toISOString()
    await schema.query(
      `INSERT INTO hookinbox_transmissions (provider, transmission_id, body_sha256, received_at)
       SELECT 'paypal', 't' || i, 'x', $1 FROM generate_series(1, 8000) i`,
      [old],
    )
    // Each row costs over 0.5 ms to delete (standing in for a large table): over 4 s in one statement.
    await schema.query(
      `CREATE FUNCTION slow_delete() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.0005); RETURN OLD; END $$`,
    )
    await schema.query(
      'CREATE TRIGGER slow_delete BEFORE DELETE ON hookinbox_transmissions FOR EACH ROW EXECUTE FUNCTION slow_delete()',
    )
    const inbox = inboxOn(database)
    const pruner = prunerOn(database, inbox)
    await pruner.prune(new Date())
    const [left] = await schema.query<{ n: string }>('SELECT count(*) AS n FROM hookinbox_transmissions')
    expect(Number(left?.n)).toBe(0)
    await inbox.close()
  }, 60_000)
})
