/**
 * PayPal signs `transmissionId|time|webhookId|crc32(body)`: the body only through its CRC-32, which is not a
 * MAC. Anyone holding one genuine delivery (headers and body) can write a different body with the same CRC
 * and send it under the genuine headers. The inbox binds each transmission id to the SHA-256 of the first
 * body it came with, in the event's transaction, so such a body is refused (400) and nothing of it is
 * recorded or run: alone, at the same moment as the genuine one, or after a duplicate.
 */
import { randomUUID } from 'node:crypto'
import { crc32 } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CERT_PATH,
  type HostileService,
  isRecorded,
  paypalHeaders,
  send,
  startHostileService,
} from './support.ts'

/**
 * `template` with some of its 24-letter `dddd…` pad changed so that crc32(result) === target. CRC-32 is
 * linear over GF(2): flipping bit 0 or 1 of a pad letter (a letter stays a letter) XORs a fixed value into the
 * CRC, so the flips to make are the solution of a 32-bit linear system, found by elimination.
 */
function withCrc(template: string, target: number): Buffer {
  const buf = Buffer.from(template)
  const pad = buf.indexOf('d'.repeat(24))
  if (pad === -1) throw new Error('the template needs a pad of 24 letters d')
  const base = crc32(buf)
  const flips: Array<{ at: number; bit: number; effect: number }> = []
  for (let i = 0; i < 24; i++) {
    for (const bit of [1, 2]) {
      const flipped = Buffer.from(buf)
      flipped[pad + i] = (flipped[pad + i] as number) ^ bit
      flips.push({ at: pad + i, bit, effect: (crc32(flipped) ^ base) >>> 0 })
    }
  }
  // Gaussian elimination: basis[b] is a combination of flips (mask) whose effect has top bit b.
  const basis: Array<{ effect: number; mask: bigint } | undefined> = new Array(32)
  flips.forEach((flip, i) => {
    let effect = flip.effect
    let mask = 1n << BigInt(i)
    for (let b = 31; b >= 0 && effect !== 0; b--) {
      if (((effect >>> b) & 1) === 0) continue
      const row = basis[b]
      if (!row) {
        basis[b] = { effect, mask }
        return
      }
      effect = (effect ^ row.effect) >>> 0
      mask ^= row.mask
    }
  })
  let want = (base ^ target) >>> 0
  let chosen = 0n
  for (let b = 31; b >= 0; b--) {
    if (((want >>> b) & 1) === 0) continue
    const row = basis[b]
    if (!row) throw new Error('no combination of flips reaches the target CRC')
    want = (want ^ row.effect) >>> 0
    chosen ^= row.mask
  }
  const out = Buffer.from(buf)
  flips.forEach((flip, i) => {
    if ((chosen >> BigInt(i)) & 1n) out[flip.at] = (out[flip.at] as number) ^ flip.bit
  })
  return out
}

describe('a PayPal transmission replayed with another body of the same CRC-32', () => {
  let env: HostileService
  let certUrl: string
  const run = Date.now().toString(36)
  const effects = (id: string) =>
    env.svc.query<{ n: number }>('SELECT count(*) AS n FROM test_effects WHERE event_id = ?', id)[0]?.n

  beforeAll(async () => {
    env = await startHostileService({}, { 'effect.ts': paypalEffectHandler() })
    certUrl = `https://${env.certHost.host}${CERT_PATH}`
  })
  afterAll(async () => env?.dispose())

  const event = (id: string, type: string, amount: string, pad = false) =>
    JSON.stringify({
      id,
      event_type: type,
      create_time: new Date().toISOString(),
      resource: { id: 'cap-1', amount: { value: amount, currency_code: 'USD' } },
      ...(pad ? { x: 'd'.repeat(24) } : {}),
    })
  const post = (body: Buffer, headers: Array<[string, string]>) =>
    send(env.svc.url, {
      path: '/webhooks/paypal',
      headers: [...headers, ['Content-Type', 'application/json'], ['Content-Length', String(body.length)]],
      body,
    })
  /** A genuine delivery and a forged body (another event id, type and amount) with the same CRC-32. */
  function pair(tag: string) {
    const genuine = Buffer.from(event(`WH-GENUINE-${tag}-${run}`, 'PAYMENT.CAPTURE.COMPLETED', '1.00'))
    const forged = withCrc(
      event(`WH-FORGED-${tag}-${run}`, 'PAYMENT.CAPTURE.REFUNDED', '99999.00', true),
      crc32(genuine),
    )
    expect(crc32(forged)).toBe(crc32(genuine))
    return { genuine, forged, genuineId: `WH-GENUINE-${tag}-${run}`, forgedId: `WH-FORGED-${tag}-${run}` }
  }

  it('is refused with 400 after the genuine delivery; nothing of it is recorded or run', async () => {
    const { genuine, forged, genuineId, forgedId } = pair('after')
    const headers = paypalHeaders(genuine, certUrl)
    expect((await post(genuine, headers)).status).toBe(200)
    const res = await post(forged, headers)
    expect(res.status).toBe(400)
    expect(JSON.parse(res.text)).toMatchObject({ error: expect.stringContaining('different body') })
    expect(isRecorded(env.svc, 'paypal', forgedId)).toBe(false)
    expect(effects(forgedId)).toBe(0)
    expect(effects(genuineId)).toBe(1)
    // The same transmission with its own body again (a retry PayPal might make) is still a duplicate.
    expect(JSON.parse((await post(genuine, headers)).text)).toMatchObject({ duplicate: true })
  })

  it('sent at the same moment as the genuine one, only one of the two bodies is ever accepted', async () => {
    const { genuine, forged, genuineId, forgedId } = pair('race')
    const headers = paypalHeaders(genuine, certUrl)
    const sends = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? genuine : forged))
    const answers = await Promise.all(sends.map((body) => post(body, headers)))
    const accepted = new Set(answers.flatMap((a, i) => (a.status === 200 ? [sends[i]] : [])))
    expect(accepted.size).toBe(1)
    for (const a of answers) expect([200, 400]).toContain(a.status)
    const winner = accepted.has(genuine) ? genuineId : forgedId
    const loser = winner === genuineId ? forgedId : genuineId
    expect(effects(winner)).toBe(1)
    expect(effects(loser)).toBe(0)
    expect(isRecorded(env.svc, 'paypal', loser)).toBe(false)
  })

  it('is refused under the headers of a delivery that was only a duplicate', async () => {
    const { genuine, forged, forgedId } = pair('dup')
    expect((await post(genuine, paypalHeaders(genuine, certUrl))).status).toBe(200)
    // PayPal resends the event in a new transmission; it is a duplicate, and its transmission is bound too.
    const resend = paypalHeaders(genuine, certUrl, undefined, randomUUID())
    expect(JSON.parse((await post(genuine, resend)).text)).toMatchObject({ duplicate: true })
    expect((await post(forged, resend)).status).toBe(400)
    expect(isRecorded(env.svc, 'paypal', forgedId)).toBe(false)
  })

  it('is refused under the headers of a genuine delivery whose handler failed', async () => {
    const genuine = Buffer.from(event(`WH-FAILS-${run}`, 'PAYMENT.CAPTURE.DENIED', '1.00'))
    const forgedId = `WH-FORGED-fails-${run}`
    const forged = withCrc(event(forgedId, 'PAYMENT.CAPTURE.REFUNDED', '99999.00', true), crc32(genuine))
    const headers = paypalHeaders(genuine, certUrl)
    // Recorded as failed, its handler's writes rolled back; PayPal will retry it in a new transmission.
    expect((await post(genuine, headers)).status).toBe(500)
    expect(isRecorded(env.svc, 'paypal', `WH-FAILS-${run}`)).toBe(true)
    expect((await post(forged, headers)).status).toBe(400)
    expect(isRecorded(env.svc, 'paypal', forgedId)).toBe(false)
    expect(effects(forgedId)).toBe(0)
  })

  it('refuses a transmission signed more than PAYPAL_MAX_TRANSMISSION_AGE_DAYS (4) ago', async () => {
    const { genuine, forged } = pair('stale')
    const day = 86_400_000
    const fiveDaysAgo = paypalHeaders(
      genuine,
      certUrl,
      undefined,
      randomUUID(),
      new Date(Date.now() - 5 * day),
    )
    const res = await post(genuine, fiveDaysAgo)
    expect(res.status).toBe(400)
    expect(JSON.parse(res.text)).toMatchObject({
      error: expect.stringContaining('PAYPAL_MAX_TRANSMISSION_AGE_DAYS'),
    })
    // Such headers, never bound (nothing was recorded), carry no forged body either.
    expect((await post(forged, fiveDaysAgo)).status).toBe(400)
    const threeDaysAgo = paypalHeaders(
      genuine,
      certUrl,
      undefined,
      randomUUID(),
      new Date(Date.now() - 3 * day),
    )
    expect((await post(genuine, threeDaysAgo)).status).toBe(200)
  })

  it('counts the refusal with the other rejected deliveries, and logs it as a warning', async () => {
    const { genuine, forged } = pair('logged')
    const headers = paypalHeaders(genuine, certUrl)
    await post(genuine, headers)
    const before = env.svc.logs.length
    expect((await post(forged, headers)).status).toBe(400)
    const lines = env.svc.logs.slice(before).map((l) => JSON.parse(l) as { level: number; reason?: string })
    expect(lines.filter((l) => l.reason === 'transmission_reused').map((l) => l.level)).toEqual([40])
    expect(lines.filter((l) => l.level >= 50)).toEqual([])
  })
})

describe('the binding of a transmission signed ahead of the clock that received it', () => {
  const day = 86_400_000
  const start = Date.now()
  let clock = start
  let env: HostileService
  let certUrl: string
  const run = Date.now().toString(36)

  beforeAll(async () => {
    // Bindings kept 4 + 1 days, transmissions accepted for 4 days (the default): allowed, as the age is at most
    // DEDUP_KEEP_DAYS.
    env = await startHostileService(
      { DEDUP_KEEP_DAYS: '4', RETENTION_DAYS: '1' },
      { 'effect.ts': paypalEffectHandler() },
      { now: () => new Date(clock) },
    )
    certUrl = `https://${env.certHost.host}${CERT_PATH}`
  })
  afterAll(async () => env?.dispose())

  it('outlives the age at which the transmission is refused, counted from its signed time', async () => {
    const body = (id: string, pad = false) =>
      JSON.stringify({ id, event_type: 'PAYMENT.CAPTURE.COMPLETED', ...(pad ? { x: 'd'.repeat(24) } : {}) })
    const genuine = Buffer.from(body(`WH-AHEAD-${run}`))
    const forgedId = `WH-FORGED-ahead-${run}`
    const forged = withCrc(body(forgedId, true), crc32(genuine))
    // Signed two days ahead of this host's clock: PayPal's clock ahead, or ours behind (a VM restored from a
    // snapshot and not yet synced). Accepted: a transmission from the future is not stale.
    const headers = paypalHeaders(genuine, certUrl, undefined, randomUUID(), new Date(start + 2 * day))
    const post = (b: Buffer) =>
      send(env.svc.url, {
        path: '/webhooks/paypal',
        headers: [...headers, ['Content-Type', 'application/json'], ['Content-Length', String(b.length)]],
        body: b,
      })
    expect((await post(genuine)).status).toBe(200)
    // 5.5 days on, retention runs; the transmission was signed 3.5 days ago, so it is still accepted.
    clock = start + 5.5 * day
    await env.svc.prune()
    const res = await post(forged)
    expect(res.status).toBe(400)
    expect(isRecorded(env.svc, 'paypal', forgedId)).toBe(false)
    // Once signed more than 4 days ago it is refused as stale, and its binding may go.
    clock = start + 6.5 * day
    expect(JSON.parse((await post(forged)).text)).toMatchObject({
      error: expect.stringContaining('PAYPAL_MAX_TRANSMISSION_AGE_DAYS'),
    })
  })
})

function paypalEffectHandler(): string {
  return `import { sql } from 'drizzle-orm'
export default {
  provider: 'paypal',
  events: '*',
  async handle(event, ctx) {
    ctx.tx.run(sql\`INSERT INTO test_effects (event_id, handler) VALUES (\${event.id}, 'paypal')\`)
    if (event.type === 'PAYMENT.CAPTURE.DENIED') throw new Error('downstream briefly unavailable')
  },
}
`
}
