/**
 * Under overload (handlers slower than deliveries arrive), the verified deliveries the service holds are
 * bounded: past MAX_PENDING_DELIVERIES or MAX_PENDING_BYTES a delivery gets 503 at once, nothing of it is
 * written, and it is accepted once the backlog clears. What was admitted is answered as usual.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { startTestService, type TestService, untilPending } from '../support/test-service.ts'

declare global {
  var overloadGate: Promise<void> | undefined
}

/** Records an effect, then waits on the test's gate while holding the write loop. */
const SLOW_HANDLER = `import { sql } from 'drizzle-orm'
export default {
  provider: 'stripe',
  events: '*',
  async handle(event, ctx) {
    ctx.tx.run(sql\`INSERT INTO test_effects (event_id, handler) VALUES (\${event.id}, 'slow')\`)
    await globalThis.overloadGate
  },
}
`

/** Opens the last gate (a failed test must not leave the service's write loop waiting on it). */
let openLast: () => void = () => {}

function gate() {
  let open: () => void = () => {}
  globalThis.overloadGate = new Promise<void>((resolve) => {
    open = resolve
  })
  openLast = open
  return open
}

async function metric(svc: TestService, line: RegExp): Promise<string | undefined> {
  const text = await (await fetch(`${svc.url}/metrics`)).text()
  return text.split('\n').find((l) => line.test(l))
}

describe('overload', () => {
  let svc: TestService | undefined

  /** A service whose one handler waits on the test's gate, with these limits. */
  async function startSlow(env: Record<string, string>): Promise<TestService> {
    svc = await startTestService({
      handlers: { 'slow.mjs': SLOW_HANDLER },
      env: { ...env, HANDLER_TIMEOUT_MS: '60000' },
    })
    return svc
  }
  afterEach(async () => {
    openLast()
    globalThis.overloadGate = undefined
    await svc?.dispose()
    svc = undefined
  })

  it('past MAX_PENDING_DELIVERIES a delivery gets 503 at once, leaves nothing behind, and is accepted once the backlog clears', async () => {
    const open = gate()
    const service = await startSlow({ MAX_PENDING_DELIVERIES: '5' })
    const admitted = Array.from({ length: 5 }, () => stripeEvent())
    const answers = admitted.map((e) => postStripe(service.url, e))
    await untilPending(service, 5)

    const extra = Array.from({ length: 3 }, () => stripeEvent())
    const refused = await Promise.all(extra.map((e) => postStripe(service.url, e)))
    for (const r of refused) {
      expect(r.status).toBe(503)
      expect(r.body).toEqual({ error: 'too many deliveries are waiting to be written; retry later' })
    }
    const ids = extra.map((e) => e.id as string)
    const stored = () =>
      service.query<{ event_id: string }>(
        `SELECT event_id FROM hookinbox_events WHERE event_id IN (${ids.map(() => '?').join(',')})`,
        ...ids,
      )
    expect(stored()).toEqual([])
    expect(await metric(service, /^hookinbox_deliveries_rejected_total\{.*reason="overloaded"/)).toBe(
      'hookinbox_deliveries_rejected_total{provider="stripe",reason="overloaded"} 3',
    )
    // One warning a refusal, naming the reason: an overloaded service must not write more than that.
    const warnings = service.logs.filter((l) => l.includes('"level":40'))
    expect(warnings).toHaveLength(3)
    for (const w of warnings)
      expect(JSON.parse(w)).toMatchObject({ reason: 'overloaded', msg: 'delivery rejected' })

    // The backlog clears: everything admitted is answered as usual, and the refused ones are accepted now.
    open()
    for (const r of await Promise.all(answers)) expect(r.status).toBe(200)
    for (const e of extra) expect((await postStripe(service.url, e)).status).toBe(200)
    const effects = service.query<{ event_id: string; n: number }>(
      'SELECT event_id, count(*) AS n FROM test_effects GROUP BY event_id',
    )
    expect(effects).toHaveLength(8)
    expect(effects.every((e) => e.n === 1)).toBe(true)
    expect(stored()).toHaveLength(3)
    await untilPending(service, 0)
  })

  it('past MAX_PENDING_BYTES a delivery gets 503, while a lone delivery larger than the limit is still accepted', async () => {
    const open = gate()
    const service = await startSlow({ MAX_PENDING_BYTES: '2048' })
    // Larger than the limit on its own, and nothing else is held: admitted.
    const big = stripeEvent({ padding: 'x'.repeat(4000) })
    const first = postStripe(service.url, big)
    await untilPending(service, 1)
    const small = await postStripe(service.url, stripeEvent())
    expect(small.status).toBe(503)
    open()
    expect((await first).status).toBe(200)
    await untilPending(service, 0)

    // Two of about 800 bytes stay under 2048 bytes, so a third is admitted; with three held, a fourth is not.
    const sized = () => stripeEvent({ padding: 'x'.repeat(500) })
    const bodyBytes = JSON.stringify(sized()).length
    expect(bodyBytes * 2).toBeLessThan(2048)
    expect(bodyBytes * 3).toBeGreaterThanOrEqual(2048)
    const open2 = gate()
    const held = [sized(), sized(), sized()].map((e) => postStripe(service.url, e))
    await untilPending(service, 3)
    expect((await postStripe(service.url, sized())).status).toBe(503)
    open2()
    for (const r of await Promise.all(held)) expect(r.status).toBe(200)
  })

  it('a delivery larger than what MAX_PENDING_BYTES has left is admitted while the backlog is far from the limit', async () => {
    // MAX_BODY_BYTES (1 MiB here; up to 100 MiB) may exceed MAX_PENDING_BYTES (32 MiB by default), so a large
    // delivery must not need a moment when nothing at all is held: under any steady traffic that moment never
    // comes, and the delivery would be answered 'overloaded' on every retry until its provider gave up.
    const open = gate()
    const service = await startSlow({ MAX_PENDING_BYTES: '2048' })
    // One small delivery (about 300 bytes) held: far from both limits.
    const held = postStripe(service.url, stripeEvent())
    await untilPending(service, 1)
    const big = postStripe(service.url, stripeEvent({ padding: 'x'.repeat(4000) }))
    const first = await Promise.race([
      big.then((r) => r.status),
      untilPending(service, 2).then(
        () => 'admitted',
        () => 'never admitted',
      ),
    ])
    open()
    expect(first).toBe('admitted')
    expect((await held).status).toBe(200)
    expect((await big).status).toBe(200)
    await untilPending(service, 0)
  })

  it('at the limit, a duplicate the inbox answers from memory is still answered 200, and a new event is not', async () => {
    const service = await startSlow({ MAX_PENDING_DELIVERIES: '1' })
    // A retention pass that commits empties that memory: let the start-up pass finish (passes run in turn).
    await service.prune()
    const settled = stripeEvent()
    expect((await postStripe(service.url, settled)).status).toBe(200)
    // Its first duplicate is looked up in the database, which puts it in memory.
    expect((await postStripe(service.url, settled)).body).toMatchObject({ duplicate: true })

    const open = gate()
    const held = postStripe(service.url, stripeEvent())
    await untilPending(service, 1)
    const again = await postStripe(service.url, settled)
    expect(again.status).toBe(200)
    expect(again.body).toMatchObject({ duplicate: true, status: 'processed' })
    expect((await postStripe(service.url, stripeEvent())).status).toBe(503)
    open()
    expect((await held).status).toBe(200)
  })

  it('a duplicate answered from memory passes while the backlog is under the limit', async () => {
    svc = await startTestService({ env: { MAX_PENDING_DELIVERIES: '1' } })
    const service = svc
    const event = stripeEvent()
    expect((await postStripe(service.url, event)).status).toBe(200)
    // One at a time, every delivery is admitted: the limit counts what is held, not what was answered.
    for (let i = 0; i < 5; i++) {
      const again = await postStripe(service.url, event)
      expect(again.status).toBe(200)
      expect(again.body).toMatchObject({ duplicate: true })
    }
    await untilPending(service, 0)
  })
})
