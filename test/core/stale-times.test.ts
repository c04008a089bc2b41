/**
 * `ctx.isStale(objectKey, occurredAt)` with times at and beyond the calendar both stores keep (years 1 to 9999,
 * which is what PostgreSQL takes as Drizzle writes a Date): the same answer on SQLite and (when
 * TEST_DATABASE_URL is set) PostgreSQL. Outside it, a TypeError the handler can catch, thrown before any
 * statement; not a time SQLite keeps and PostgreSQL refuses (an aborted transaction at every retry there, and
 * a row migrate-to-postgres cannot copy).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshSchema, type PgSchema, postgresAvailable } from '../support/postgres.ts'
import { postStripe, stripeEvent, uniqueId } from '../support/stripe-signing.ts'
import { startTestService, type TestService } from '../support/test-service.ts'

const seen = globalThis as { staleTimes?: Record<string, unknown> }

const HANDLER = `export default {
  provider: 'stripe',
  events: ['test.stale-time'],
  async handle(event, ctx) {
    const { key, times } = event.payload
    const answers = []
    for (const ms of times) {
      try {
        answers.push(await ctx.isStale(key, new Date(ms)))
      } catch (err) {
        answers.push(err.name)
      }
    }
    globalThis.staleTimes = { ...globalThis.staleTimes, [event.id]: answers }
  },
}
`

const YEAR_1 = Date.parse('0001-01-01T00:00:00.000Z')
const YEAR_9999_END = Date.parse('9999-12-31T23:59:59.999Z')

for (const store of ['sqlite', 'postgres'] as const) {
  describe.skipIf(store === 'postgres' && !postgresAvailable)(`ctx.isStale's times on ${store}`, () => {
    let svc: TestService
    let schema: PgSchema | undefined

    beforeAll(async () => {
      seen.staleTimes = {}
      schema = store === 'postgres' ? await freshSchema('stale') : undefined
      svc = await startTestService({
        env: schema ? { DATABASE_URL: schema.url } : {},
        handlers: { 'stale.ts': HANDLER },
      })
    })
    afterAll(async () => {
      await svc?.dispose()
      await schema?.drop()
    })

    async function answers(times: number[]) {
      const event = stripeEvent({ type: 'test.stale-time', key: uniqueId('obj'), times })
      const res = await postStripe(svc.url, event)
      return { status: res.status, answers: seen.staleTimes?.[event.id as string] }
    }

    it('years 1 and 9999 are times like any other, before 1970 included', async () => {
      expect(new Date(YEAR_1).toISOString()).toBe('0001-01-01T00:00:00.000Z')
      expect(await answers([YEAR_1, -1, YEAR_9999_END, YEAR_1])).toEqual({
        status: 200,
        answers: [false, false, false, true],
      })
    })

    it('a time after 9999 or before year 1 is a TypeError the handler can catch, and the event goes on', async () => {
      const after9999 = Date.parse('+010000-01-01T00:00:00Z')
      const beforeYear1 = Date.parse('-000001-01-01T00:00:00Z')
      expect(await answers([after9999, beforeYear1, 8_640_000_000_000_000, 1000])).toEqual({
        status: 200,
        answers: ['TypeError', 'TypeError', 'TypeError', false],
      })
    })
  })
}
