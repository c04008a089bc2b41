/**
 * Storms of concurrent deliveries through one in-process service (real HTTP on a loopback port, a real SQLite
 * file, signatures made as each provider makes them): many copies of one event give one effect, for Stripe,
 * PayPal and Adyen; a replay racing provider retries gives one effect; and a slow handler holding the write
 * lock lets no duplicate of its own event through, while duplicates of events already processed are answered
 * from the read path without waiting for it.
 */
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { notification, randomHexKey, sampleItem, signedItem } from '../providers/adyen-fixtures.ts'
import {
  type CountingServer,
  sampleEvent as paypalEvent,
  pki,
  servePem,
  signedDelivery,
  startCertHost,
  WEBHOOK_ID,
} from '../providers/paypal-fixtures.ts'
import { adminPost } from '../support/admin-client.ts'
import { STRIPE_SECRET, stripeEvent, stripeSignature } from '../support/stripe-signing.ts'
import { effectHandler, startTestService, type TestService } from '../support/test-service.ts'
import { json, type PostResult, post, sleep } from './support/http-client.ts'

const ADYEN_KEY = randomHexKey()
const ADYEN_AUTH = 'storm-user:storm-password-123'
const SLOW_MS = 300

/** Shared with the handler file, which runs in this process. */
interface StormControl {
  failing: Set<string>
  park: Set<string>
  slow: Set<string>
  /** A slow handler also waits for this gate, so the test decides when it may finish (never before SLOW_MS). */
  gate: Promise<void>
  slowStarted: Map<string, number>
  slowFinished: Map<string, number>
}
const control: StormControl = {
  failing: new Set(),
  park: new Set(),
  slow: new Set(),
  gate: Promise.resolve(),
  slowStarted: new Map(),
  slowFinished: new Map(),
}
;(globalThis as { __storms?: StormControl }).__storms = control

const stormHandler = effectHandler({
  extra: `const g = globalThis.__storms
    if (g.failing.has(event.id)) throw new Error('failing on purpose')
    if (g.park.has(event.id)) {
      const e = new Error('parked on purpose')
      e.name = 'PermanentError'
      throw e
    }
    if (g.slow.has(event.id)) {
      g.slowStarted.set(event.id, performance.now())
      await Promise.all([new Promise((r) => setTimeout(r, ${SLOW_MS})), g.gate])
      g.slowFinished.set(event.id, performance.now())
    }`,
})

const is2xx = (r: PostResult) => r.kind === 'response' && r.status >= 200 && r.status < 300
const describeResult = (r: PostResult) =>
  r.kind === 'response' ? `${r.status} ${r.text.slice(0, 120)}` : `${r.code}`

describe('delivery storms', () => {
  let svc: TestService
  let certHost: CountingServer

  const effects = (id: string) =>
    svc.query<{ n: number }>('SELECT count(*) AS n FROM test_effects WHERE event_id = ?', id)[0]?.n
  const record = (provider: string, id: string) =>
    svc.query<{ status: string; attempts: number; duplicates: number }>(
      'SELECT status, attempts, duplicates FROM hookinbox_events WHERE provider = ? AND event_id = ?',
      provider,
      id,
    )[0]
  /** The `duplicates` column is folded in with a later write (within ~200 ms); wait for it. */
  async function duplicatesRecorded(provider: string, id: string, expected: number) {
    const until = performance.now() + 5_000
    while (performance.now() < until && (record(provider, id)?.duplicates ?? 0) < expected) await sleep(25)
    return record(provider, id)?.duplicates
  }

  /** A Stripe delivery of `body` with its own signature (`age` seconds old, so copies differ). */
  const stripe = (body: string, age = 0) =>
    post(`${svc.url}/webhooks/stripe`, body, {
      'content-type': 'application/json',
      'stripe-signature': stripeSignature(body, STRIPE_SECRET, Math.floor(Date.now() / 1000) - age),
    })
  const paypal = (body: string) => {
    const d = signedDelivery({
      body,
      certUrl: certHost.url(),
      transmissionId: randomUUID(),
      transmissionTime: new Date().toISOString(),
    })
    const headers: Record<string, string> = {}
    d.headers.forEach((value, name) => {
      headers[name] = value
    })
    return post(`${svc.url}/webhooks/paypal`, d.body, headers)
  }
  const adyen = (body: string) =>
    post(`${svc.url}/webhooks/adyen`, body, {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from(ADYEN_AUTH).toString('base64')}`,
    })

  beforeAll(async () => {
    certHost = await startCertHost(servePem(pki.signingCert))
    svc = await startTestService({
      env: {
        LOG_LEVEL: 'warn',
        PAYPAL_WEBHOOK_ID: WEBHOOK_ID,
        PAYPAL_CERT_HOSTS: certHost.host,
        ADYEN_HMAC_KEY: ADYEN_KEY,
        ADYEN_BASIC_AUTH: ADYEN_AUTH,
      },
      paypal: { ca: pki.ca },
      handlers: { 'effect.ts': stormHandler },
    })
  })
  afterAll(async () => {
    await svc?.dispose()
    await certHost?.close()
  })

  it('Stripe: 200 concurrent deliveries of one event, each signed afresh → one effect, one first answer', async () => {
    const event = stripeEvent()
    const id = event.id as string
    const body = JSON.stringify(event)
    const results = await Promise.all(Array.from({ length: 200 }, (_, k) => stripe(body, k)))
    expect(results.filter((r) => !is2xx(r)).map(describeResult)).toEqual([])
    const answers = results.map((r) => json<{ duplicate: boolean; status: string }>(r))
    expect(answers.filter((a) => a?.duplicate === false)).toHaveLength(1)
    expect(answers.filter((a) => a?.duplicate === true && a.status === 'processed')).toHaveLength(199)
    expect(effects(id)).toBe(1)
    expect(record('stripe', id)).toMatchObject({ status: 'processed', attempts: 1 })
    expect(await duplicatesRecorded('stripe', id, 199)).toBe(199)
  })

  it('PayPal: 200 concurrent copies of one event, each signed afresh → one effect, the certificate fetched once', async () => {
    const id = `WH-STORM-${Date.now()}`
    const body = paypalEvent(id)
    const results = await Promise.all(Array.from({ length: 200 }, () => paypal(body)))
    expect(results.filter((r) => !is2xx(r)).map(describeResult)).toEqual([])
    const answers = results.map((r) => json<{ duplicate: boolean; status: string }>(r))
    expect(answers.filter((a) => a?.duplicate === false)).toHaveLength(1)
    expect(answers.filter((a) => a?.duplicate === true && a.status === 'processed')).toHaveLength(199)
    expect(effects(id)).toBe(1)
    expect(record('paypal', id)).toMatchObject({ status: 'processed', attempts: 1 })
    // 200 first-time verifications share one download of the (uncached) signing certificate.
    expect(certHost.requests).toHaveLength(1)
    expect(await duplicatesRecorded('paypal', id, 199)).toBe(199)
  })

  it('Adyen: 200 concurrent copies of one three-item notification → [accepted] each time, one effect per item', async () => {
    const items = [sampleItem(), sampleItem({ eventCode: 'CAPTURE' }), sampleItem({ eventCode: 'REFUND' })]
    const ids = items.map((i) => `${i.merchantAccountCode}:${i.pspReference}:${i.eventCode}:${i.success}:`)
    const body = notification(items.map((i) => signedItem(i, ADYEN_KEY)))
    const results = await Promise.all(Array.from({ length: 200 }, () => adyen(body)))
    expect(
      results.filter((r) => r.kind !== 'response' || r.text !== '[accepted]').map(describeResult),
    ).toEqual([])
    expect(ids.map((id) => effects(id))).toEqual([1, 1, 1])
    for (const id of ids) expect(record('adyen', id)).toMatchObject({ status: 'processed', attempts: 1 })
  })

  it('a replay racing provider retries of a failed event → one effect, exactly one winner', async () => {
    const event = stripeEvent({ type: 'storm.replay' })
    const id = event.id as string
    const body = JSON.stringify(event)
    control.failing.add(id)
    const first = await stripe(body)
    expect(first.kind === 'response' && first.status).toBe(500)
    expect(record('stripe', id)).toMatchObject({ status: 'failed', attempts: 1 })
    control.failing.delete(id)

    // Not settled, so every racer goes through the write queue: the first runs the handler, the rest see it.
    const replays = Array.from({ length: 5 }, () =>
      adminPost<{ status: string }>(svc.url, `/admin/api/events/stripe/${id}/replay`),
    )
    const retries = Array.from({ length: 40 }, (_, k) => stripe(body, k))
    const [replayed, retried] = await Promise.all([Promise.all(replays), Promise.all(retries)])

    expect(retried.filter((r) => !is2xx(r)).map(describeResult)).toEqual([])
    const freshRetries = retried.filter((r) => json(r)?.duplicate === false).length
    const wonReplays = replayed.filter((r) => r.status === 200 && r.body.status === 'processed').length
    expect(freshRetries + wonReplays).toBe(1)
    // The replays that lost find the event processed: 409.
    expect(replayed.filter((r) => r.status === 409)).toHaveLength(5 - wonReplays)
    expect(effects(id)).toBe(1)
    expect(record('stripe', id)).toMatchObject({ status: 'processed', attempts: 2 })
    const log = svc.query<{ outcome: string; trigger: string }>(
      'SELECT a.outcome, a.trigger FROM hookinbox_attempts a JOIN hookinbox_events e ON e.seq = a.event_seq WHERE e.event_id = ? ORDER BY a.id',
      id,
    )
    expect(log.map((a) => a.outcome)).toEqual(['failed', 'processed'])
  })

  it('replays racing each other and retries of a parked event → one effect', async () => {
    const event = stripeEvent({ type: 'storm.parked' })
    const id = event.id as string
    const body = JSON.stringify(event)
    control.park.add(id)
    expect(json(await stripe(body))).toMatchObject({ status: 'parked', duplicate: false })
    control.park.delete(id)

    // A parked event is settled: retries are answered as duplicates, and only one replay may run it.
    const [replayed, retried] = await Promise.all([
      Promise.all(
        Array.from({ length: 10 }, () =>
          adminPost<{ status: string }>(svc.url, `/admin/api/events/stripe/${id}/replay`),
        ),
      ),
      Promise.all(Array.from({ length: 40 }, (_, k) => stripe(body, k))),
    ])
    expect(retried.filter((r) => !is2xx(r) || json(r)?.duplicate !== true).map(describeResult)).toEqual([])
    expect(replayed.filter((r) => r.status === 200).map((r) => r.body.status)).toEqual(['processed'])
    expect(replayed.filter((r) => r.status === 409)).toHaveLength(9)
    expect(effects(id)).toBe(1)
    expect(record('stripe', id)).toMatchObject({ status: 'processed', attempts: 2 })
  })

  it('a slow handler holds the write lock: no duplicate of its event slips through; duplicates of processed events are answered meanwhile', async () => {
    // Events already processed (committed) before the slow one starts.
    const done = Array.from({ length: 20 }, () => JSON.stringify(stripeEvent()))
    for (const r of await Promise.all(done.map((b) => stripe(b))))
      expect(json(r)).toMatchObject({ status: 'processed', duplicate: false })

    const slowEvent = stripeEvent({ type: 'storm.slow' })
    const slowId = slowEvent.id as string
    const slowBody = JSON.stringify(slowEvent)
    // The handler runs at least SLOW_MS, and on until the gate opens (so a loaded machine cannot let it
    // finish before the duplicates below had their chance to be answered).
    let openGate = () => {}
    control.gate = new Promise<void>((resolve) => {
      openGate = resolve
    })
    control.slow.add(slowId)
    type Timed = { result: PostResult; sentAt: number; answeredAt: number }
    const timed = (p: Promise<PostResult>) => {
      const sentAt = performance.now()
      const t = { settled: false, answer: undefined as unknown as Promise<Timed> }
      t.answer = p.then((result) => {
        t.settled = true
        return { result, sentAt, answeredAt: performance.now() }
      })
      return t
    }
    const slow = timed(stripe(slowBody))
    try {
      const waitUntil = performance.now() + 10_000
      while (!control.slowStarted.has(slowId) && performance.now() < waitUntil) await sleep(1)
      expect(control.slowStarted.has(slowId)).toBe(true)

      // While the handler is inside the write transaction: waves of duplicates of its own event, of
      // processed events, and new events, over about 180 ms.
      const own: Array<ReturnType<typeof timed>> = []
      const others: Array<ReturnType<typeof timed>> = []
      const fresh: Array<{ id: string; t: ReturnType<typeof timed> }> = []
      for (let wave = 0; wave < 12; wave++) {
        for (let k = 0; k < 3; k++) own.push(timed(stripe(slowBody, wave * 3 + k + 1)))
        for (let k = 0; k < 5; k++)
          others.push(timed(stripe(done[(wave * 5 + k) % done.length] as string, wave + 1)))
        const e = stripeEvent()
        fresh.push({ id: e.id as string, t: timed(stripe(JSON.stringify(e))) })
        await sleep(15)
      }
      // Every duplicate of a processed event is answered while the lock is still held (bounded wait: if
      // they queued behind the lock, they would never come and this fails after 10 s).
      const answered = await Promise.race([
        Promise.all(others.map((d) => d.answer)),
        sleep(10_000).then(() => undefined),
      ])
      expect(answered, 'duplicates of processed events waited for the write lock').toBeDefined()
      const stillRunning = !control.slowFinished.has(slowId)
      expect(stillRunning).toBe(true)
      // Meanwhile nothing about the slow event itself was answered: its duplicates wait for its commit.
      expect(slow.settled).toBe(false)
      expect(own.filter((d) => d.settled)).toHaveLength(0)
      expect(fresh.filter((f) => f.t.settled)).toHaveLength(0)

      openGate()
      const [slowAnswer, ownAnswers, freshAnswers] = await Promise.all([
        slow.answer,
        Promise.all(own.map((d) => d.answer)),
        Promise.all(fresh.map((f) => f.t.answer)),
      ])
      const started = control.slowStarted.get(slowId) as number
      const finished = control.slowFinished.get(slowId) as number
      expect(finished - started).toBeGreaterThanOrEqual(SLOW_MS - 1)

      expect(json(slowAnswer.result)).toEqual({ received: true, duplicate: false, status: 'processed' })
      expect(slowAnswer.answeredAt).toBeGreaterThanOrEqual(finished)
      for (const d of ownAnswers) {
        expect(json(d.result)).toEqual({ received: true, duplicate: true, status: 'processed' })
        expect(d.answeredAt).toBeGreaterThanOrEqual(finished)
      }
      expect(effects(slowId)).toBe(1)
      for (const d of answered ?? []) {
        expect(json(d.result)).toEqual({ received: true, duplicate: true, status: 'processed' })
        expect(d.answeredAt).toBeLessThan(finished)
      }
      for (const [k, f] of freshAnswers.entries()) {
        expect(json(f.result)).toMatchObject({ duplicate: false, status: 'processed' })
        expect(effects(fresh[k]?.id as string)).toBe(1)
      }
      for (const b of done) expect(effects(JSON.parse(b).id)).toBe(1)

      const latencies = (answered ?? []).map((d) => d.answeredAt - d.sentAt).sort((a, b) => a - b)
      const lastAnswer = Math.max(...(answered ?? []).map((d) => d.answeredAt))
      console.log(
        `[storms] slow handler ran ${Math.round(finished - started)} ms; ${latencies.length} duplicates of ` +
          `processed events answered while it held the lock (median ${latencies[latencies.length >> 1]?.toFixed(1)} ms, ` +
          `max ${latencies.at(-1)?.toFixed(1)} ms; the last ${Math.round(finished - lastAnswer)} ms before it finished); ` +
          `${own.length} duplicates of its own event answered after its commit, none ran it again`,
      )
    } finally {
      openGate()
      control.slow.delete(slowId)
    }
  })
})
