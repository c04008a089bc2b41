/**
 * A PostgreSQL inbox whose one handler (events of type `stuck`) sits in `pg_sleep(seconds)` far past its
 * 200 ms timeout, and the queries to see and end such sleeps: shared by the tests of the handler timeout's
 * query cancel; and a handler held at a gate the test opens (gatedHandler).
 */
import { sql } from 'drizzle-orm'
import pino from 'pino'
import type { PostgresDatabase } from '../../src/db/postgres.ts'
import type { HandlerTx } from '../../src/handlers.ts'
import { createPgInbox } from '../../src/inbox/pg-inbox.ts'
import type { VerifiedEvent } from '../../src/providers/provider.ts'
import { createHandlerRegistry, type LoadedHandler } from '../../src/registry/handler-registry.ts'
import type { PgSchema } from '../support/postgres.ts'

export const event = (id: string, type: string): VerifiedEvent => ({
  provider: 'stripe',
  id,
  type,
  payload: { id, type },
})

export function stuckInbox(database: PostgresDatabase, seconds: number) {
  const stuck = {
    name: 'stuck',
    file: 'inline',
    provider: 'stripe',
    events: ['stuck'],
    // Without the cancel, a test of it could only end by its own timeout.
    async handle(_event: unknown, ctx: { tx: HandlerTx }) {
      await (ctx.tx as unknown as { execute(q: unknown): Promise<unknown> }).execute(
        sql`SELECT pg_sleep(${sql.raw(String(seconds))})`,
      )
    },
  }
  return createPgInbox({
    database,
    registry: createHandlerRegistry([stuck as unknown as LoadedHandler]),
    log: pino({ level: 'silent' }),
    handlerTimeoutMs: 200,
    maxAttempts: 5,
  })
}

/** The backends still running the stuck handler's sleep. */
export const sleepingQueries = (schema: PgSchema, seconds: number) =>
  schema.query(
    `SELECT pid FROM pg_stat_activity WHERE query LIKE '%pg_sleep(${seconds})%' AND state = 'active' AND pid <> pg_backend_pid()`,
  )

/** Ends any such sleep, so that a failing test fails instead of hanging the run. */
export const endSleeps = (schema: PgSchema | undefined, seconds: number) =>
  schema?.query(
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(${seconds})%' AND pid <> pg_backend_pid()`,
  )

/**
 * An inline handler of Stripe events of `type` that, once entered, waits until the test releases it: a
 * delivery (or replay) held inside its transaction, its event's row locked. While `failing` is set it throws
 * instead, to leave a failed event behind.
 */
export function gatedHandler(type: string) {
  let entered: () => void = () => {}
  let open: () => void = () => {}
  const released = new Promise<void>((resolve) => {
    open = resolve
  })
  const gate = {
    failing: false,
    /** Resolves once the handler has been entered (and not failed). */
    inHandler: new Promise<void>((resolve) => {
      entered = resolve
    }),
    release: () => open(),
    handler: {
      name: type,
      file: 'inline',
      provider: 'stripe',
      events: [type],
      async handle() {
        if (gate.failing) throw new Error('not yet')
        entered()
        await released
      },
    } as unknown as LoadedHandler,
  }
  return gate
}
