/**
 * Admin input that SQLite takes but PostgreSQL cannot: a U+0000 in a filter or an event id (PostgreSQL's text
 * holds none), and a date outside PostgreSQL's timestamps (a year 0 or 10000 once read as UTC). Each is an
 * honest answer, as on SQLite: nothing matches (200 or 404), or a 400 naming the parameter. Never a 500
 * "internal error" logged as a bug, nor a 503 that tells the operator to retry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminGet, adminPost, bearer } from '../support/admin-client.ts'
import { freshSchema, type PgSchema, postgresAvailable } from '../support/postgres.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { startTestService, type TestService } from '../support/test-service.ts'

describe.skipIf(!postgresAvailable)('admin input PostgreSQL cannot store', () => {
  let schema: PgSchema
  let svc: TestService
  const event = stripeEvent()

  beforeAll(async () => {
    schema = await freshSchema('admininput')
    svc = await startTestService({ env: { DATABASE_URL: schema.url, DATABASE_POOL_SIZE: '2' } })
    expect((await postStripe(svc.url, event)).status).toBe(200)
  })
  afterAll(async () => {
    await svc?.dispose()
    await schema?.drop()
  })

  it.each(['q=%00', 'q=evt%00', 'type=a%00b'])(
    'a NUL in the list filter (%s) matches nothing',
    async (query) => {
      const reply = await adminGet(svc.url, `/admin/api/events?${query}`)
      expect(reply).toEqual({ status: 200, body: { events: [], nextCursor: null } })
      const page = await fetch(`${svc.url}/admin?${query}`, { headers: bearer })
      expect(page.status).toBe(200)
    },
  )

  it('a NUL in a bulk replay filter matches nothing', async () => {
    for (const filter of [{ type: 'a\u0000' }, { q: '\u0000' }]) {
      const reply = await adminPost(svc.url, '/admin/api/replay', { ...filter, dryRun: true })
      expect(reply).toEqual({ status: 200, body: { dryRun: true, matched: 0, events: [] } })
    }
  })

  it('an event id with a NUL is no such event, on the detail, the replay and the page', async () => {
    const id = encodeURIComponent(`${event.id}\u0000`)
    expect(await adminGet(svc.url, `/admin/api/events/stripe/${id}`)).toEqual({
      status: 404,
      body: { error: 'no such event' },
    })
    expect(await adminPost(svc.url, `/admin/api/events/stripe/${id}/replay`)).toEqual({
      status: 404,
      body: { error: 'no such event' },
    })
    expect((await fetch(`${svc.url}/admin/events/stripe/${id}`, { headers: bearer })).status).toBe(404)
  })

  it.each([
    'since=0000-01-01',
    'until=0000-12-31',
    'since=0001-01-01T00:00%2B01:00',
    'until=9999-12-31T23:00-05:00',
  ])('a time outside the years 1 to 9999 UTC (%s) is a 400 naming it', async (query) => {
    const reply = await adminGet<{ error: string }>(svc.url, `/admin/api/events?${query}`)
    expect(reply.status).toBe(400)
    expect(reply.body.error).toMatch(/^invalid parameter "(since|until)"/)
  })

  it('logged no unexpected error', () => {
    expect(svc.logs.filter((line) => /unexpected error|Failed query/.test(line)).length).toBe(0)
  })
})
