/**
 * A handler stuck in a query past its timeout while PostgreSQL refuses new sessions (max_connections
 * reached): its query is still cancelled. A cancel request takes no session slot, where pg_cancel_backend
 * from a connection of its own was refused, and the rollback then waited behind the stuck query for good,
 * holding its pooled connection and the delivery's answer.
 */
import { sql } from 'drizzle-orm'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openPostgres, type PostgresDatabase } from '../../src/db/postgres.ts'
import type { HandlerTx } from '../../src/handlers.ts'
import { createPgInbox } from '../../src/inbox/pg-inbox.ts'
import type { VerifiedEvent } from '../../src/providers/provider.ts'
import { createHandlerRegistry, type LoadedHandler } from '../../src/registry/handler-registry.ts'
import { waitAtMost } from '../../src/wait-at-most.ts'
import { freshSchema, type PgSchema, postgresAvailable, TEST_DATABASE_URL } from '../support/postgres.ts'
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts'

const event = (id: string, type: string): VerifiedEvent => ({
  provider: 'stripe',
  id,
  type,
  payload: { id, type },
})

describe.skipIf(!postgresAvailable)('a stuck handler query while PostgreSQL refuses new sessions', () => {
  let schema: PgSchema
  let proxy: TcpProxy
  let database: PostgresDatabase

  beforeAll(async () => {
    schema = await freshSchema('refused')
    const target = new URL(TEST_DATABASE_URL as string)
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432))
    const url = new URL(schema.url)
    url.hostname = '127.0.0.1'
    url.port = String(proxy.port)
    database = await openPostgres({ url: url.toString(), poolSize: 2 })
  })
  afterAll(async () => {
    proxy?.refuseSessions(false)
    // Should the cancel fail, end the sleep here, so the test fails instead of hanging the run.
    await schema?.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3601)%' AND pid <> pg_backend_pid()",
    )
    await database?.close()
    await proxy?.close()
    await schema?.drop()
  })

  it('is cancelled all the same: the event fails and its connection comes back', async () => {
    const stuck = {
      name: 'stuck',
      file: 'inline',
      provider: 'stripe',
      events: ['stuck'],
      async handle(_event: unknown, ctx: { tx: HandlerTx }) {
        await (ctx.tx as unknown as { execute(q: unknown): Promise<unknown> }).execute(
          sql`SELECT pg_sleep(3601)`,
        )
      },
    }
    const inbox = createPgInbox({
      database,
      registry: createHandlerRegistry([stuck as unknown as LoadedHandler]),
      log: pino({ level: 'silent' }),
      handlerTimeoutMs: 200,
      maxAttempts: 5,
    })
    // The pool's one open connection (from the migrations) carries the delivery; nothing new can open.
    proxy.refuseSessions(true)
    const outcome = inbox.receive(event('evt_stuck_refused', 'stuck'), new Date())
    expect(await waitAtMost(outcome, 8000, 'still waiting behind the stuck query')).toMatchObject({
      status: 'failed',
      attempts: 1,
    })
    const sleeping = await schema.query(
      "SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3601)%' AND state = 'active' AND pid <> pg_backend_pid()",
    )
    expect(sleeping).toEqual([])
    proxy.refuseSessions(false)
    await inbox.close()
  }, 20_000)
})
