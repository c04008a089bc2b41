/**
 * The provider's own time of an event (`occurredAt`) reaches the handlers, at the first delivery and at an
 * operator's replay, and the admin API, on SQLite and (when TEST_DATABASE_URL is set) on PostgreSQL, for
 * times at both ends of the calendar the stores keep (years 1 and 9999).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminGet, adminPost } from '../support/admin-client.ts'
import { freshSchema, type PgSchema, postgresAvailable } from '../support/postgres.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { ADMIN_TOKEN, startTestService, type TestService } from '../support/test-service.ts'

/**
 * Tells what the handler saw as `event.occurredAt`: at a delivery in the error it fails with (its writes are
 * undone, its error is kept in the attempt log), so that the event is left failed for a replay; at the
 * replay in a row of test_effects.
 */
const recorder = (store: 'sqlite' | 'postgres') => `import { sql } from 'drizzle-orm'
export default {
  provider: 'stripe',
  events: '*',
  async handle(event, ctx) {
    const seen = event.occurredAt === undefined ? 'none' : event.occurredAt.toISOString()
    const insert = sql\`INSERT INTO test_effects (event_id, handler) VALUES (\${event.id}, \${seen})\`
    ${store === 'postgres' ? 'await ctx.tx.execute(insert)' : 'ctx.tx.run(insert)'}
    if (ctx.trigger === 'delivery') throw new Error('saw ' + seen)
  },
}
`

const CASES: Array<[string, Record<string, unknown>, string | null]> = [
  ['Unix seconds', { created: 1_700_000_000 }, '2023-11-14T22:13:20.000Z'],
  [
    "a thin event's ISO date-time",
    { object: 'v2.core.event', created: '2024-09-17T06:20:52.246Z' },
    '2024-09-17T06:20:52.246Z',
  ],
  ['year 1', { created: -62_135_596_800 }, '0001-01-01T00:00:00.000Z'],
  ['year 9999', { created: 253_402_300_799 }, '9999-12-31T23:59:59.000Z'],
  ['none', { created: undefined }, null],
]

for (const store of ['sqlite', 'postgres'] as const) {
  describe.skipIf(store === 'postgres' && !postgresAvailable)(`occurredAt on ${store}`, () => {
    let svc: TestService
    let schema: PgSchema | undefined

    beforeAll(async () => {
      schema = store === 'postgres' ? await freshSchema('occurred') : undefined
      svc = await startTestService({
        env: { ADMIN_TOKEN, ...(schema ? { DATABASE_URL: schema.url } : {}) },
        handlers: { 'recorder.ts': recorder(store) },
      })
    })
    afterAll(async () => {
      await svc?.dispose()
      await schema?.drop()
    })

    const seen = async (eventId: string) => {
      const sql = 'SELECT handler FROM test_effects WHERE event_id = $1 ORDER BY id'
      const rows = schema
        ? await schema.query<{ handler: string }>(sql, [eventId])
        : svc.query<{ handler: string }>(sql.replace('$1', '?'), eventId)
      return rows.map((r) => r.handler)
    }

    it('a retry sees the time stored with the event, as a replay and the admin do', async () => {
      // Stored without a time (as a thin event was before its ISO `created` was read), then retried with one.
      const first = stripeEvent({ created: undefined })
      const id = first.id as string
      expect((await postStripe(svc.url, first)).status).toBe(500)
      expect((await postStripe(svc.url, { ...first, created: 1_700_000_000 })).status).toBe(500)
      type Detail = { occurredAt: string | null; attemptLog: Array<{ error: string | null }> }
      const detail = await adminGet<Detail>(svc.url, `/admin/api/events/stripe/${id}`)
      expect(detail.body.attemptLog.map((a) => a.error)).toEqual(['recorder: saw none', 'recorder: saw none'])
      expect(detail.body.occurredAt).toBeNull()
    })

    for (const [name, fields, expected] of CASES) {
      it(`${name}: the handler sees it at delivery and at replay, and the admin API shows it`, async () => {
        const event = stripeEvent(fields)
        const id = event.id as string
        expect((await postStripe(svc.url, event)).status).toBe(500)
        const replay = await adminPost(svc.url, `/admin/api/events/stripe/${id}/replay`)
        expect(replay.status).toBe(200)
        expect(await seen(id)).toEqual([expected ?? 'none'])

        type Detail = { occurredAt: string | null; attemptLog: Array<{ error: string | null }> }
        const detail = await adminGet<Detail>(svc.url, `/admin/api/events/stripe/${id}`)
        expect(detail.body.attemptLog[0]?.error).toBe(`recorder: saw ${expected ?? 'none'}`)
        expect(detail.body.occurredAt).toBe(expected)
        const list = await adminGet<{ events: Array<{ eventId: string; occurredAt: string | null }> }>(
          svc.url,
          `/admin/api/events?q=${id}`,
        )
        expect(list.body.events).toEqual([expect.objectContaining({ eventId: id, occurredAt: expected })])
      })
    }
  })
}
