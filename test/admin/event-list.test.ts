import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventPage } from '../../src/admin/event-history.ts'
import { adminGet } from '../support/admin-client.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { effectHandler, startTestService, type TestService } from '../support/test-service.ts'

describe('GET /admin/api/events', () => {
  let svc: TestService
  const sent: Array<Record<string, unknown>> = []
  beforeAll(async () => {
    svc = await startTestService({
      handlers: {
        'a.ts': effectHandler({ events: "['invoice.paid', 'charge.refunded']" }),
        'fail.ts': effectHandler({
          name: 'fails',
          events: "['charge.failed']",
          extra: "throw new Error('nope')",
        }),
      },
    })
    const types = ['invoice.paid', 'charge.refunded', 'customer.created', 'charge.failed']
    for (let i = 0; i < 40; i += 10) {
      const batch = Array.from({ length: 10 }, (_, j) => stripeEvent({ type: types[(i + j) % 4] }))
      sent.push(...batch)
      await Promise.all(batch.map((e) => postStripe(svc.url, e)))
    }
  })
  afterAll(() => svc.dispose())

  it('lists newest first with the documented fields', async () => {
    const { status, body } = await adminGet<EventPage>(svc.url, '/admin/api/events?limit=5')
    expect(status).toBe(200)
    expect(body.events).toHaveLength(5)
    expect(Object.keys(body.events[0] ?? {})).toEqual(
      expect.arrayContaining([
        'provider',
        'eventId',
        'type',
        'status',
        'attempts',
        'receivedAt',
        'processedAt',
        'lastError',
        'handlers',
      ]),
    )
    const times = body.events.map((e) => e.receivedAt)
    expect([...times].sort().reverse()).toEqual(times)
    expect(body.nextCursor).toEqual(expect.any(String))
  })

  it('filters by provider, type, status, q (id or type prefix), since and until', async () => {
    const byType = await adminGet<EventPage>(svc.url, '/admin/api/events?type=invoice.paid&limit=500')
    expect(byType.body.events.length).toBe(10)
    expect(byType.body.events.every((e) => e.type === 'invoice.paid')).toBe(true)

    const failed = await adminGet<EventPage>(svc.url, '/admin/api/events?status=failed&limit=500')
    expect(failed.body.events.length).toBe(10)
    expect(failed.body.events.every((e) => e.type === 'charge.failed' && e.lastError?.includes('nope'))).toBe(
      true,
    )

    const ignored = await adminGet<EventPage>(svc.url, '/admin/api/events?status=ignored&provider=stripe')
    expect(ignored.body.events.every((e) => e.type === 'customer.created')).toBe(true)

    const none = await adminGet<EventPage>(svc.url, '/admin/api/events?provider=adyen')
    expect(none.body).toEqual({ events: [], nextCursor: null })

    const target = sent[7]?.id as string
    const byId = await adminGet<EventPage>(svc.url, `/admin/api/events?q=${encodeURIComponent(target)}`)
    expect(byId.body.events.map((e) => e.eventId)).toEqual([target])
    const byTypePrefix = await adminGet<EventPage>(svc.url, '/admin/api/events?q=charge.&limit=500')
    expect(byTypePrefix.body.events.length).toBe(20)

    const future = new Date(Date.now() + 60_000).toISOString()
    expect(
      (await adminGet<EventPage>(svc.url, `/admin/api/events?since=${future}`)).body.events,
    ).toHaveLength(0)
    expect(
      (await adminGet<EventPage>(svc.url, `/admin/api/events?until=${future}&limit=500`)).body.events,
    ).toHaveLength(40)
    expect(
      (await adminGet<EventPage>(svc.url, '/admin/api/events?until=2000-01-01')).body.events,
    ).toHaveLength(0)
  })

  it('reads a date-time without a zone as UTC (as it reads a date, and as it answers), whatever the server`s zone', async () => {
    const [newest] = (await adminGet<EventPage>(svc.url, '/admin/api/events?limit=1')).body.events
    const at = new Date(newest?.receivedAt as string)
    // Zone-less, to the second: `since` just at or before the arrival, `until` a minute after it.
    const since = at.toISOString().slice(0, 19)
    const until = new Date(at.getTime() + 60_000).toISOString().slice(0, 19)
    const zone = process.env.TZ
    try {
      for (const tz of ['America/New_York', 'Asia/Tokyo', 'UTC']) {
        process.env.TZ = tz
        const page = await adminGet<EventPage>(
          svc.url,
          `/admin/api/events?since=${since}&until=${until.replace('T', '%20')}&limit=500`,
        )
        expect(page.status).toBe(200)
        expect(page.body.events.map((e) => e.eventId)).toContain(newest?.eventId)
      }
    } finally {
      if (zone === undefined) delete process.env.TZ
      else process.env.TZ = zone
    }
  })

  it('combines a status with provider and type, and pages through the combination', async () => {
    const list = async (query: string) =>
      (await adminGet<EventPage>(svc.url, `/admin/api/events?${query}`)).body
    // A rare status (its index is walked; provider and type are checked row by row) and the common one.
    expect((await list('status=failed&provider=stripe&limit=500')).events).toHaveLength(10)
    expect((await list('status=failed&type=charge.failed&provider=stripe&limit=500')).events).toHaveLength(10)
    expect((await list('status=failed&type=invoice.paid&limit=500')).events).toHaveLength(0)
    expect((await list('status=failed&provider=adyen&limit=500')).events).toHaveLength(0)
    expect((await list('status=ignored&type=customer.created&limit=500')).events).toHaveLength(10)
    expect((await list('status=processed&type=invoice.paid&provider=stripe&limit=500')).events).toHaveLength(
      10,
    )
    expect((await list('status=processed&type=charge.failed&limit=500')).events).toHaveLength(0)

    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page: EventPage = await list(
        `status=failed&provider=stripe&limit=3${cursor ? `&cursor=${cursor}` : ''}`,
      )
      seen.push(...page.events.map((e) => e.eventId))
      cursor = page.nextCursor
    } while (cursor)
    const failedIds = sent.filter((e) => e.type === 'charge.failed').map((e) => e.id as string)
    expect(seen.sort()).toEqual(failedIds.sort())
  })

  const invalid: Array<[string, string]> = [
    ['limit=0', 'limit'],
    ['limit=501', 'limit'],
    ['limit=abc', 'limit'],
    ['status=done', 'status'],
    ['provider=square', 'provider'],
    ['since=yesterday', 'since'],
    ['until=2026-13-45T99:99', 'until'],
    ['since=2024-02-30', 'since'],
    ['until=2023-02-29T10:00:00Z', 'until'],
    ['since=2024-04-31T23:00:00%2B02:00', 'since'],
    ['cursor=not-a-cursor!', 'cursor'],
    [`cursor=${Buffer.from('v2:10').toString('base64url')}`, 'cursor'],
    ["q=' OR 1=1 --&limit=1", ''],
    [`type=${'x'.repeat(300)}`, 'type'],
    ['order=seq', 'order'],
  ]
  for (const [query, param] of invalid) {
    it(`answers 400 naming the parameter for ?${query.slice(0, 40)}`, async () => {
      const res = await adminGet<{ error?: string; events?: unknown[] }>(
        svc.url,
        `/admin/api/events?${query}`,
      )
      if (param === '') {
        // SQL-looking text is just text: no error, no match, no leak.
        expect(res.status).toBe(200)
        expect(res.body.events).toEqual([])
        return
      }
      expect(res.status).toBe(400)
      expect(res.body.error).toContain(`"${param}"`)
    })
  }

  it('pages through 1,000 events 50 at a time, each exactly once, while deliveries continue', async () => {
    const fresh = Array.from({ length: 1000 }, () => stripeEvent({ type: 'paging.test' }))
    for (let i = 0; i < fresh.length; i += 100)
      await Promise.all(fresh.slice(i, i + 100).map((e) => postStripe(svc.url, e)))
    const seen: string[] = []
    let cursor: string | null = ''
    let pages = 0
    let arriving = 0
    while (cursor !== null) {
      const page: { body: EventPage } = await adminGet<EventPage>(
        svc.url,
        `/admin/api/events?type=paging.test&limit=50${cursor ? `&cursor=${cursor}` : ''}`,
      )
      seen.push(...page.body.events.map((e) => e.eventId))
      cursor = page.body.nextCursor
      pages++
      // New events of the same type keep arriving between pages.
      await Promise.all(
        Array.from({ length: 5 }, () => postStripe(svc.url, stripeEvent({ type: 'paging.test' }))),
      )
      arriving += 5
    }
    expect(pages).toBe(20)
    expect(new Set(seen).size).toBe(seen.length)
    expect(new Set(seen)).toEqual(new Set(fresh.map((e) => e.id)))
    expect(arriving).toBe(100)
  })
})
