/**
 * HANDLER_TIMEOUT_MS on PostgreSQL when the handler is stuck inside a query: the query is cancelled, so the
 * rollback of its writes does not wait behind it and the pooled connection comes back. Without that, each
 * retry of such an event held a connection until the query ended, and the pool ran dry for everyone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openPostgres, type PostgresDatabase } from '../../src/db/postgres.ts'
import { freshSchema, type PgSchema, postgresAvailable } from '../support/postgres.ts'
import { endSleeps, event, sleepingQueries, stuckInbox } from './stuck-handler.ts'

describe.skipIf(!postgresAvailable)('a PostgreSQL handler stuck in a query past its timeout', () => {
  let schema: PgSchema
  let database: PostgresDatabase

  beforeAll(async () => {
    schema = await freshSchema('timeout')
    database = await openPostgres({ url: schema.url, poolSize: 2 })
  })
  afterAll(async () => {
    await endSleeps(schema, 3600)
    await database?.close()
    await schema?.drop()
  })

  it('has its query cancelled: the event fails, its retries and other events go on, no query is left running', async () => {
    const inbox = stuckInbox(database, 3600)
    // More stuck deliveries than the pool has connections, one after another (each a retry).
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect(await inbox.receive(event('evt_stuck', 'stuck'), new Date())).toMatchObject({
        status: 'failed',
        attempts: attempt,
      })
    }
    expect(await inbox.receive(event('evt_other', 'unrelated'), new Date())).toMatchObject({
      status: 'ignored',
    })
    const sleeping = await sleepingQueries(schema, 3600)
    expect(sleeping).toEqual([])
    await inbox.close()
  }, 20_000)
})
