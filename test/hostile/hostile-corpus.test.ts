/**
 * Runs every case of the hostile-input corpus (test/fixtures/hostile/cases.json) against every provider route
 * it applies to, over real HTTP, on one service with Stripe, PayPal and Adyen configured. After each case:
 * the exact status, a JSON `{"error"}` body without any secret or echoed signature, nothing recorded for a
 * refusal (and exactly the expected event for an acceptance), the rejection reason in the log, no
 * connection to a disallowed certificate URL, no prototype pollution, and /healthz still answering. At the
 * end a valid delivery to each provider still goes through.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildRequest, type Case, type Expect, expectationFor, loadCases } from './corpus.ts'
import {
  ADMIN_TOKEN,
  eventCount,
  type HostileService,
  isRecorded,
  open,
  PROVIDERS,
  type ProviderName,
  prototypeSnapshot,
  secretSpellings,
  send,
  startHostileService,
  validDelivery,
} from './support.ts'

const MAX_BODY_BYTES = 2 * 1024 * 1024
const TEN_MB = 10 * 1024 * 1024
const RUN = Date.now().toString(36)
const cases = loadCases()
/** Run by slow-clients.test.ts (they take seconds each, so they run in parallel with this file). */
const SLOW = new Set(['slow-body', 'slow-headers'])

let env: HostileService
const prototypeBefore = prototypeSnapshot()

beforeAll(async () => {
  env = await startHostileService({ MAX_BODY_BYTES: String(MAX_BODY_BYTES) })
})
afterAll(async () => {
  await env?.dispose()
})

function rejectionReasons(fromLine: number, provider: ProviderName): string[] {
  return env.svc.logs
    .slice(fromLine)
    .map((line) => JSON.parse(line) as { msg?: string; provider?: string; reason?: string })
    .filter((entry) => entry.msg === 'delivery rejected' && entry.provider === provider)
    .map((entry) => entry.reason ?? '')
}

const accepted = (provider: ProviderName, text: string, duplicate: boolean) => {
  if (provider === 'adyen') expect(text).toBe('[accepted]')
  else expect(JSON.parse(text)).toMatchObject({ received: true, duplicate })
}

/** The invariants every answer must keep, whatever the case. */
function checkAnswer(
  answer: { status: number; text: string; contentType: string | undefined },
  e: Expect,
  sentSignatures: string[],
) {
  for (const secret of [...secretSpellings(), ...sentSignatures.filter((s) => s.length >= 16)]) {
    expect(answer.text).not.toContain(secret)
  }
  if (answer.status >= 400 && !e.nodeLevel) {
    expect(answer.contentType).toMatch(/^application\/json/)
    const body = JSON.parse(answer.text) as Record<string, unknown>
    expect(Object.keys(body)).toEqual(['error'])
    expect(typeof body.error).toBe('string')
  }
}

async function checkStillUp() {
  const health = await send(env.svc.url, { method: 'GET', path: '/healthz', headers: [] })
  expect(health.status).toBe(200)
  expect(prototypeSnapshot()).toEqual(prototypeBefore)
  expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
  expect(env.decoyConnections()).toBe(0)
}

async function runCase(c: Case, index: number, provider: ProviderName) {
  const e = expectationFor(c, provider)
  const unique = `h${RUN}c${index}${provider}`
  const built = buildRequest(c, provider, env, unique)
  const eventsBefore = eventCount(env.svc)
  const logsBefore = env.svc.logs.length
  const certBefore = env.certHost.connections

  const answer = await send(env.svc.url, built.request)
  expect({ status: answer.status, error: answer.error }).toMatchObject({ status: e.status })
  checkAnswer(answer, e, built.sentSignatures)
  const id = (template: string) => template.replaceAll('__UNIQUE__', unique)

  if (answer.status >= 200 && answer.status < 300) {
    accepted(provider, answer.text, false)
    expect(e.eventId, 'a 2xx case names the event it records').toBeDefined()
    expect(isRecorded(env.svc, provider, id(e.eventId ?? ''))).toBe(true)
    expect(eventCount(env.svc)).toBe(eventsBefore + 1)
    // What was accepted can also be shown to an operator (the admin API serialises the stored payload).
    const detail = await send(env.svc.url, {
      method: 'GET',
      path: `/admin/api/events/${provider}/${encodeURIComponent(id(e.eventId ?? ''))}`,
      headers: [['Authorization', `Bearer ${ADMIN_TOKEN}`]],
    })
    expect(detail.status).toBe(200)
    expect(JSON.parse(detail.text)).toMatchObject({ provider, eventId: id(e.eventId ?? '') })
    if (c.sendTwice) {
      const again = await send(env.svc.url, built.request)
      expect(again.status).toBe(200)
      accepted(provider, again.text, true)
      expect(eventCount(env.svc)).toBe(eventsBefore + 1)
    }
  } else {
    expect(eventCount(env.svc), 'a refused delivery records nothing').toBe(eventsBefore)
  }
  for (const other of e.notRecorded ?? []) expect(isRecorded(env.svc, provider, id(other))).toBe(false)

  // Give the service a moment to write its log line for this request.
  await new Promise((resolve) => setImmediate(resolve))
  const reasons = rejectionReasons(logsBefore, provider)
  if (e.nodeLevel) expect(reasons, 'Node answered before the app ran').toEqual([])
  if (e.reason) expect(reasons.at(-1)).toBe(e.reason)
  if (e.certHost === 'untouched') expect(env.certHost.connections).toBe(certBefore)
  if (e.certHost === 'contacted') expect(env.certHost.connections).toBeGreaterThan(certBefore)
  await checkStillUp()
}

/** Declares 10 MB but sends 4 KB: the 413 must arrive while the rest of the body is still missing. */
async function oversizedDeclared(provider: ProviderName) {
  const eventsBefore = eventCount(env.svc)
  const exchange = open(env.svc.url, {
    path: `/webhooks/${provider}`,
    headers: [
      ['Content-Type', 'application/json'],
      ['Content-Length', String(TEN_MB)],
    ],
    body: Buffer.alloc(4096, 0x20),
  })
  const answer = await exchange.reply
  expect(answer.status).toBe(413)
  checkAnswer(answer, { status: 413 }, [])
  expect(eventCount(env.svc)).toBe(eventsBefore)
  await checkStillUp()
}

/**
 * Streams 64 KiB chunks with no declared length, stops writing shortly after the limit (the terminating
 * chunk is never sent) and waits: the 413 must come although the body never ended.
 */
async function oversizedChunked(provider: ProviderName) {
  const eventsBefore = eventCount(env.svc)
  const exchange = open(env.svc.url, {
    path: `/webhooks/${provider}`,
    headers: [
      ['Content-Type', 'application/json'],
      ['Transfer-Encoding', 'chunked'],
      // With `Connection: close` Node closes the socket with our unread bytes in it, which makes the
      // kernel reset the connection and drop the 413 before the client reads it: a TCP artefact, not ours.
      ['Connection', 'keep-alive'],
    ],
  })
  const chunk = Buffer.alloc(64 * 1024, 0x20)
  let written = 0
  while (!exchange.answered && written <= MAX_BODY_BYTES + 128 * 1024) {
    exchange.write(`${chunk.length.toString(16)}\r\n`)
    exchange.write(chunk)
    exchange.write('\r\n')
    written += chunk.length
    await new Promise((resolve) => setImmediate(resolve))
  }
  const answer = await exchange.reply
  expect(answer.status).toBe(413)
  checkAnswer(answer, { status: 413 }, [])
  expect(written).toBeLessThan(TEN_MB)
  expect(eventCount(env.svc)).toBe(eventsBefore)
  await checkStillUp()
}

describe('hostile-input corpus', () => {
  it('has cases, each with an expectation for every provider it targets', () => {
    expect(cases.length).toBeGreaterThan(50)
    for (const c of cases)
      for (const p of c.providers ?? PROVIDERS) expect(expectationFor(c, p)).toBeDefined()
  })

  for (const [index, c] of cases.entries()) {
    if (c.special && SLOW.has(c.special)) continue
    for (const provider of c.providers ?? PROVIDERS) {
      it(`${c.name} [${provider}]`, async () => {
        if (c.special === 'oversized-declared') await oversizedDeclared(provider)
        else if (c.special === 'oversized-chunked') await oversizedChunked(provider)
        else await runCase(c, index, provider)
      })
    }
  }

  it('after the whole corpus, a valid delivery to every provider still goes through', async () => {
    for (const provider of PROVIDERS) {
      const id =
        provider === 'stripe' ? `evt_final_${RUN}` : provider === 'paypal' ? `WH-FINAL-${RUN}` : `FINAL${RUN}`
      const { body, headers } = validDelivery(provider, id, env.certHost.url())
      const answer = await send(env.svc.url, {
        path: `/webhooks/${provider}`,
        headers: [...headers, ['Content-Type', 'application/json'], ['Content-Length', String(body.length)]],
        body,
      })
      expect(answer.status).toBe(200)
      accepted(provider, answer.text, false)
      const recorded = provider === 'adyen' ? `TestMerchant:${id}:AUTHORISATION:true:` : id
      expect(isRecorded(env.svc, provider, recorded)).toBe(true)
    }
    await checkStillUp()
    // This service logs at debug: even there, no configured secret was ever written.
    const logs = env.svc.logs.join('')
    for (const secret of secretSpellings()) expect(logs).not.toContain(secret)
  })
})
