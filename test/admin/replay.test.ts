import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BulkReplayResult } from '../../src/admin/replay.ts'
import { adminGet, adminPost, bearer } from '../support/admin-client.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { effectHandler, startTestService, type TestService } from '../support/test-service.ts'

// The handler fails while its event id is listed here (shared with the in-process service).
const failing = globalThis as { failingEvents?: Set<string> }

describe('replay', () => {
  let svc: TestService
  const effects = (id: string) =>
    svc.query<{ n: number }>('SELECT count(*) AS n FROM test_effects WHERE event_id = ?', id)[0]?.n
  const park = async () => {
    const event = stripeEvent({ type: 'replay.me' })
    failing.failingEvents?.add(event.id as string)
    const res = await postStripe(svc.url, event)
    expect(res.body).toMatchObject({ status: 'parked' })
    failing.failingEvents?.delete(event.id as string)
    return event
  }

  beforeAll(async () => {
    failing.failingEvents = new Set()
    svc = await startTestService({
      env: { MAX_ATTEMPTS: '1' },
      handlers: {
        'effect.ts': effectHandler({
          events: "['replay.me']",
          extra:
            "await new Promise((r) => setTimeout(r, 2)); if (globalThis.failingEvents.has(event.id)) throw new Error('still broken')",
        }),
      },
    })
  })
  afterAll(() => svc.dispose())

  it('replays a parked event once: one effect, status processed, the attempt log says replay', async () => {
    const event = await park()
    const res = await adminPost(svc.url, `/admin/api/events/stripe/${event.id}/replay`)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ status: 'processed', attempts: 2 })
    expect(effects(event.id as string)).toBe(1)
    const detail = await adminGet<{ attemptLog: Array<{ trigger: string; outcome: string }> }>(
      svc.url,
      `/admin/api/events/stripe/${event.id}`,
    )
    expect(detail.body.attemptLog.map((a) => `${a.trigger}:${a.outcome}`)).toEqual([
      'delivery:parked',
      'replay:processed',
    ])
  })

  it('replays an ignored event once a handler for it is added: its effect once, then it is processed', async () => {
    // Recorded as ignored: no handler takes this type yet.
    const event = stripeEvent({ type: 'added.later' })
    const id = event.id as string
    expect((await postStripe(svc.url, event)).body).toMatchObject({ status: 'ignored' })
    // With no handler still, a replay leaves it ignored and runs nothing.
    const early = await adminPost(svc.url, `/admin/api/events/stripe/${id}/replay`)
    expect(early.body).toMatchObject({ status: 'ignored', attempts: 2 })

    writeFileSync(
      join(svc.dir, 'handlers', 'later.ts'),
      effectHandler({ name: 'later', events: "['added.later']" }),
    )
    svc = await svc.restart()
    const res = await adminPost(svc.url, `/admin/api/events/stripe/${id}/replay`)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ status: 'processed', attempts: 3 })
    expect(effects(id)).toBe(1)
    // Now processed: neither another replay nor the provider's retry runs it again.
    expect((await adminPost(svc.url, `/admin/api/events/stripe/${id}/replay`)).status).toBe(409)
    expect((await postStripe(svc.url, event)).body).toMatchObject({ duplicate: true, status: 'processed' })
    expect(effects(id)).toBe(1)
  })

  it('refuses to replay processed events (409) and unknown ones (404)', async () => {
    const event = await park()
    await adminPost(svc.url, `/admin/api/events/stripe/${event.id}/replay`)
    const again = await adminPost<{ error: string }>(svc.url, `/admin/api/events/stripe/${event.id}/replay`)
    expect(again.status).toBe(409)
    expect(again.body.error).toMatch(/already processed/)
    expect((await adminPost(svc.url, '/admin/api/events/stripe/evt_unknown/replay')).status).toBe(404)
    expect((await adminPost(svc.url, '/admin/api/events/square/x/replay')).status).toBe(404)
    expect(effects(event.id as string)).toBe(1)
  })

  it("the page's replay button redirects with a notice code; the page writes the notice's words", async () => {
    const event = await park()
    const detail = `/admin/events/stripe/${event.id}`
    const replay = () =>
      fetch(`${svc.url}${detail}/replay`, {
        method: 'POST',
        redirect: 'manual',
        headers: { ...bearer, origin: svc.url, 'content-type': 'application/x-www-form-urlencoded' },
        body: '',
      })
    const noticeAt = async (location: string | null) => {
      const page = await fetch(`${svc.url}${location}`, { headers: bearer }).then((r) => r.text())
      return /<p class="notice">([^<]*)<\/p>/.exec(page)?.[1]
    }

    const first = await replay()
    expect(first.status).toBe(303)
    expect(first.headers.get('location')).toBe(`${detail}?notice=replayed`)
    expect(await noticeAt(first.headers.get('location'))).toBe('Replayed: the event is now processed.')

    const again = await replay()
    expect(again.headers.get('location')).toBe(`${detail}?notice=already_settled`)
    expect(await noticeAt(again.headers.get('location'))).toBe(
      'Not replayed: only failed, parked or ignored events replay.',
    )
    expect(effects(event.id as string)).toBe(1)
  })

  it('a replay racing provider retries of the same failed event still gives one effect', async () => {
    const event = stripeEvent({ type: 'replay.me' })
    failing.failingEvents?.add(event.id as string)
    // MAX_ATTEMPTS=1 parks at once; a parked event's retries are duplicates, so race the replay against them.
    await postStripe(svc.url, event)
    failing.failingEvents?.delete(event.id as string)
    const racers = await Promise.all([
      adminPost(svc.url, `/admin/api/events/stripe/${event.id}/replay`),
      ...Array.from({ length: 10 }, () => postStripe(svc.url, event)),
      adminPost(svc.url, `/admin/api/events/stripe/${event.id}/replay`),
    ])
    expect(racers.map((r) => r.status).filter((s) => s === 200).length).toBeGreaterThanOrEqual(11)
    expect(effects(event.id as string)).toBe(1)
  })

  it('bulk replay: the dry run lists without running; the real run replays in order of arrival', async () => {
    const parked = [await park(), await park(), await park()]
    const dry = await adminPost<BulkReplayResult>(svc.url, '/admin/api/replay', {
      type: 'replay.me',
      dryRun: true,
    })
    expect(dry.status).toBe(200)
    expect(dry.body.dryRun).toBe(true)
    expect(dry.body.events.map((e) => e.eventId)).toEqual(parked.map((e) => e.id))
    for (const e of parked) expect(effects(e.id as string)).toBe(0)

    const real = await adminPost<BulkReplayResult>(svc.url, '/admin/api/replay', {
      type: 'replay.me',
      dryRun: false,
    })
    expect(real.body.matched).toBe(3)
    expect(real.body.events.map((e) => [e.eventId, e.before, e.after])).toEqual(
      parked.map((e) => [e.id, 'parked', 'processed']),
    )
    for (const e of parked) expect(effects(e.id as string)).toBe(1)
    const none = await adminPost<BulkReplayResult>(svc.url, '/admin/api/replay', { type: 'replay.me' })
    expect(none.body.matched).toBe(0)
    // Every replay moved its event between statuses in the counts, which match a fresh count of the rows.
    const counted = svc.query<{ status: string; n: number }>(
      'SELECT status, count(*) AS n FROM hookinbox_events GROUP BY status ORDER BY status',
    )
    const stats = await adminGet<{ events: { stripe: Record<string, number> } }>(svc.url, '/admin/api/stats')
    expect(stats.body.events.stripe).toEqual(Object.fromEntries(counted.map((c) => [c.status, c.n])))
  })

  it('bulk replay validates its filter', async () => {
    expect((await adminPost(svc.url, '/admin/api/replay', { status: 'processed' })).status).toBe(400)
    expect((await adminPost(svc.url, '/admin/api/replay', { dryRun: 'yes' })).status).toBe(400)
    expect((await adminPost(svc.url, '/admin/api/replay', { since: 'soon' })).status).toBe(400)
    const res = await fetch(`${svc.url}/admin/api/replay`, {
      method: 'POST',
      headers: { authorization: `Bearer ${(await import('../support/test-service.ts')).ADMIN_TOKEN}` },
      body: '[not json',
    })
    expect(res.status).toBe(400)
  })

  it('bulk replay refuses a body over 64 KB (413) and one that is not UTF-8 (400)', async () => {
    const { ADMIN_TOKEN } = await import('../support/test-service.ts')
    const post = (body: BodyInit) =>
      fetch(`${svc.url}/admin/api/replay`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body,
      })
    const huge = await post(JSON.stringify({ type: 'x'.repeat(70_000) }))
    expect(huge.status).toBe(413)
    expect(await huge.json()).toEqual({ error: expect.stringContaining('65536') })
    const invalid = await post(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]))
    expect(invalid.status).toBe(400)
    expect((await fetch(`${svc.url}/healthz`)).status).toBe(200)
  })
})
