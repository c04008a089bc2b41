/**
 * HANDLER_TIMEOUT_MS on PostgreSQL when the handler is stuck inside a query: the query is cancelled, so the
 * rollback of its writes does not wait behind it and the pooled connection comes back. Without that, each
 * retry of such an event held a connection until the query ended, and the pool ran dry for everyone.
 */
import { sql } from 'drizzle-orm'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openPostgres, type PostgresDatabase } from '../../src/db/postgres.ts'
import type { HandlerTx } from '../../src/handlers.ts'
import { createPgInbox } from '../../src/inbox/pg-inbox.ts'
import type { VerifiedEvent } from '../../src/providers/provider.ts'
import { createHandlerRegistry, type LoadedHandler } from '../../src/registry/handler-registry.ts'
import { freshSchema, type PgSchema, postgresAvailable } from '../support/postgres.ts'

const event = (id: string, type: string): VerifiedEvent => ({
  provider: 'stripe',
  id,
  type,
  payload: { id, type },
})

describe.skipIf(!postgresAvailable)('a PostgreSQL handler stuck in a query past its timeout', () => {
  let schema: PgSchema
  let database: PostgresDatabase

  beforeAll(async () => {
    schema = await freshSchema('timeout')
    database = await openPostgres({ url: schema.url, poolSize: 2 })
  })
  afterAll(async () => {
    // Should the cancel ever fail, end the sleeps here, so the test fails instead of hanging the run.
    await schema?.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3600)%' AND pid <> pg_backend_pid()",
    )
    await database?.close()
    await schema?.drop()
  })

  it('has its query cancelled: the event fails, its retries and other events go on, no query is left running', async () => {
    const stuck = {
      name: 'stuck',
      file: 'inline',
      provider: 'stripe',
      events: ['stuck'],
      // An hour: without the cancel, this test could only end by its own timeout.
      async handle(_event: unknown, ctx: { tx: HandlerTx }) {
        await (ctx.tx as unknown as { execute(q: unknown): Promise<unknown> }).execute(
          sql`SELECT pg_sleep(3600)`,
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
    const sleeping = await schema.query(
      "SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3600)%' AND state = 'active' AND pid <> pg_backend_pid()",
    )
    expect(sleeping).toEqual([])
    await inbox.close()
  }, 20_000)
})
