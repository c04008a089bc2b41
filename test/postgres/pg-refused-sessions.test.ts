/**
 * A handler stuck in a query past its timeout while PostgreSQL refuses new sessions (max_connections
 * reached): its query is still cancelled. A cancel request takes no session slot, where pg_cancel_backend
 * from a connection of its own was refused, and the rollback then waited behind the stuck query for good,
 * holding its pooled connection and the delivery's answer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openPostgres, type PostgresDatabase } from '../../src/db/postgres.ts'
import { waitAtMost } from '../../src/wait-at-most.ts'
import { behindProxy, freshSchema, type PgSchema, postgresAvailable } from '../support/postgres.ts'
import type { TcpProxy } from '../support/tcp-proxy.ts'
import { endSleeps, event, sleepingQueries, stuckInbox } from './stuck-handler.ts'

describe.skipIf(!postgresAvailable)('a stuck handler query while PostgreSQL refuses new sessions', () => {
  let schema: PgSchema
  let proxy: TcpProxy
  let database: PostgresDatabase

  beforeAll(async () => {
    schema = await freshSchema('refused')
    const through = await behindProxy(schema)
    proxy = through.proxy
    database = await openPostgres({ url: through.url, poolSize: 2 })
    // One open connection in the pool, to carry the delivery once new sessions are refused.
    await database.pool.query('SELECT 1')
  })
  afterAll(async () => {
    proxy?.refuseSessions(false)
    await endSleeps(schema, 3601)
    await database?.close()
    await proxy?.close()
    await schema?.drop()
  })

  it('is cancelled all the same: the event fails and its connection comes back', async () => {
    const inbox = stuckInbox(database, 3601)
    // The pool's one open connection carries the delivery; nothing new can open.
    proxy.refuseSessions(true)
    const outcome = inbox.receive(event('evt_stuck_refused', 'stuck'), new Date())
    expect(await waitAtMost(outcome, 8000, 'still waiting behind the stuck query')).toMatchObject({
      status: 'failed',
      attempts: 1,
    })
    const sleeping = await sleepingQueries(schema, 3601)
    expect(sleeping).toEqual([])
    proxy.refuseSessions(false)
    await inbox.close()
  }, 20_000)
})
