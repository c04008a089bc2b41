/**
 * A PostgreSQL that stops answering without closing its connections (a network partition, a hung server).
 * Every query of the pool gives up after its query timeout and drops its connection: the delivery gets its
 * 503 (the provider retries), a stop can finish, and once the database answers again new deliveries go on.
 * Before, a delivery on such a connection waited for good, and so did the stop.
 */
import { sql } from 'drizzle-orm'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openPostgres, type PostgresDatabase } from '../../src/db/postgres.ts'
import type { HandlerTx } from '../../src/handlers.ts'
import { createPgInbox } from '../../src/inbox/pg-inbox.ts'
import { createHandlerRegistry, type LoadedHandler } from '../../src/registry/handler-registry.ts'
import { waitAtMost } from '../../src/wait-at-most.ts'
import { behindProxy, freshSchema, type PgSchema, postgresAvailable } from '../support/postgres.ts'
import type { TcpProxy } from '../support/tcp-proxy.ts'
import { event } from './stuck-handler.ts'

describe.skipIf(!postgresAvailable)(
  'a PostgreSQL that stops answering without closing its connections',
  () => {
    let schema: PgSchema
    let proxy: TcpProxy
    let database: PostgresDatabase

    beforeAll(async () => {
      schema = await freshSchema('stalled')
      const through = await behindProxy(schema)
      proxy = through.proxy
      database = await openPostgres({ url: through.url, poolSize: 3, queryTimeoutMs: 1000 })
    })
    afterAll(async () => {
      proxy?.stall(false)
      await database?.close()
      await proxy?.close()
      await schema?.drop()
    })

    it('answers 503 within the query timeout, lets a stop finish, and goes on once it answers again', async () => {
      const handlers = [
        { name: 'noop', file: 'inline', provider: 'stripe', events: ['noop'], async handle() {} },
        {
          name: 'stalls',
          file: 'inline',
          provider: 'stripe',
          events: ['stalls'],
          // The partition begins while the handler runs, between two of its statements.
          async handle(_event: unknown, ctx: { tx: HandlerTx }) {
            proxy.stall(true)
            await (ctx.tx as unknown as { execute(q: unknown): Promise<unknown> }).execute(sql`SELECT 1`)
          },
        },
      ]
      const inbox = createPgInbox({
        database,
        registry: createHandlerRegistry(handlers as unknown as LoadedHandler[]),
        log: pino({ level: 'silent' }),
        handlerTimeoutMs: 200,
        maxAttempts: 5,
      })
      const answer = (p: Promise<unknown>, ms: number) =>
        waitAtMost(
          p.then(
            (outcome) => ({ outcome }),
            (err: unknown) => ({ kind: (err as { kind?: string }).kind }),
          ),
          ms,
          'no answer',
        )
      expect(await inbox.receive(event('evt_before', 'noop'), new Date())).toMatchObject({
        status: 'processed',
      })

      // Inside an event's transaction: the handler's statement and then its rollback get no answer.
      expect(await answer(inbox.receive(event('evt_in_tx', 'stalls'), new Date()), 15_000)).toEqual({
        kind: 'storage_unavailable',
      })
      // Outside one: the duplicate look-up of a new event, and of a settled one (on a pooled connection, or a
      // new one, whose start-up gets no answer either: the pool's 5 s connection timeout).
      expect(await answer(inbox.receive(event('evt_new', 'noop'), new Date()), 8000)).toEqual({
        kind: 'storage_unavailable',
      })
      expect(await answer(inbox.receive(event('evt_before', 'noop'), new Date()), 8000)).toEqual({
        kind: 'storage_unavailable',
      })

      proxy.stall(false)
      expect(await inbox.receive(event('evt_new', 'noop'), new Date())).toMatchObject({
        status: 'processed',
        duplicate: false,
      })
      expect(await inbox.receive(event('evt_before', 'noop'), new Date())).toMatchObject({ duplicate: true })
      // Never acknowledged, never committed: nothing of it was kept.
      const kept = await schema.query("SELECT 1 FROM hookinbox_events WHERE event_id = 'evt_in_tx'")
      expect(kept).toEqual([])
      expect(
        await waitAtMost(
          inbox.close().then(() => 'closed'),
          5000,
          'the stop still waits',
        ),
      ).toBe('closed')
    }, 40_000)
  },
)
