/**
 * The inbox's own reads on PostgreSQL do not depend on node-postgres's process-wide type parsers, which a
 * handler module (or a library it uses) may change with pg.types.setTypeParser: like Drizzle's queries,
 * which read timestamps as text and map every column themselves.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshSchema, type PgSchema, pgEffectHandler, postgresAvailable } from '../support/postgres.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { startTestService, type TestService } from '../support/test-service.ts'

const g = globalThis as { pgFail?: Set<string>; pgSeen?: unknown[][] }
const TIMESTAMPTZ = pg.types.builtins.TIMESTAMPTZ
const INT4 = pg.types.builtins.INT4

describe.skipIf(!postgresAvailable)('PostgreSQL inbox under changed global type parsers', () => {
  let schema: PgSchema
  let svc: TestService
  const defaults = { tz: pg.types.getTypeParser(TIMESTAMPTZ), int4: pg.types.getTypeParser(INT4) }

  beforeAll(async () => {
    g.pgFail = new Set()
    g.pgSeen = []
    schema = await freshSchema()
    svc = await startTestService({
      env: { DATABASE_URL: schema.url, MAX_ATTEMPTS: '5' },
      handlers: {
        'a-effect.ts': pgEffectHandler({
          extra: `globalThis.pgSeen.push([event.receivedAt instanceof Date, ctx.attempt])
    if (globalThis.pgFail.has(event.id)) throw new Error('handler says no')`,
        }),
      },
    })
    // What a handler's module, or a library of its own, may do at load time: pg's parsers are process-wide.
    pg.types.setTypeParser(TIMESTAMPTZ, (v: string) => v)
    pg.types.setTypeParser(INT4, (v: string) => v)
  })
  afterAll(async () => {
    pg.types.setTypeParser(TIMESTAMPTZ, defaults.tz)
    pg.types.setTypeParser(INT4, defaults.int4)
    await svc?.dispose()
    await schema?.drop()
  })

  it('a retried event gets a Date receivedAt and the right attempt number; duplicates report a number', async () => {
    const event = stripeEvent()
    g.pgFail?.add(event.id as string)
    expect((await postStripe(svc.url, event)).status).toBe(500)
    g.pgFail?.delete(event.id as string)
    expect((await postStripe(svc.url, event)).body).toMatchObject({ status: 'processed', duplicate: false })
    expect(g.pgSeen).toEqual([
      [true, 1],
      [true, 2],
    ])
    const [row] = await schema.query<{ status: string; attempts: string }>(
      'SELECT status, attempts::text FROM hookinbox_events WHERE event_id = $1',
      [event.id],
    )
    expect(row).toEqual({ status: 'processed', attempts: '2' })
    const dup = await postStripe(svc.url, event)
    expect(dup.text).toContain('"duplicate":true')
    expect(dup.body).toMatchObject({ status: 'processed' })
    expect(typeof (dup.body as { attempts?: unknown }).attempts).not.toBe('string')
  })
})
