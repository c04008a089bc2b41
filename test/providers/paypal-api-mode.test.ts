/**
 * API ("postback") mode against a loopback fake of PayPal's REST API. The fake checks what PayPal checks
 * about the request shape: OAuth client credentials, a bearer token, and a webhook_event that is the
 * delivered body byte for byte (re-serialising `1.0` or `{}` would be caught).
 */
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MAX_API_VERIFICATIONS } from '../../src/providers/paypal/api-verify.ts'
import {
  createPaypalProvider,
  type PaypalProviderOptions,
  postbackBody,
} from '../../src/providers/paypal/index.ts'
import { expectAppError } from './helpers.ts'
import { signedDelivery, withHeader } from './paypal-fixtures.ts'

const CLIENT_ID = 'client-id-123'
const CLIENT_SECRET = 'client-secret-456'
const WEBHOOK_ID = '1JE4291016473214C'
/** `1.0`, `{}`, `[]`, escapes and spacing: anything but the exact bytes would differ. */
const RAW = `{"id":"WH-API-1","event_version":"1.0","create_time":"2024-05-12T18:13:13Z","event_type":"CHECKOUT.ORDER.APPROVED","resource":{"amount":1.0,"links":[],"meta":{}, "note":"caf\\u00e9 \u00e9 \\/"}}`
const CERT_URL = 'https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77'

type Answer = { status: number; body: string; headers?: Record<string, string> }
type VerifyAnswer = Answer | 'hang'

interface FakePaypal {
  baseUrl: string
  tokenCalls: number
  verifyCalls: number
  verifyAnswers: VerifyAnswer[]
  /** What webhook_event must be, byte for byte; the fake records a problem otherwise. */
  expectedEvent: string
  /** Every webhook_event text received. */
  events: string[]
  tokenAnswer: Answer
  /** Problems the fake found in requests it received; must stay empty. */
  problems: string[]
  /** Connections to the fake still open. */
  openConnections(): Promise<number>
  close(): Promise<void>
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
  })

async function startFakePaypal(): Promise<FakePaypal> {
  let tokenNumber = 0
  const validTokens = new Set<string>()
  const fake: Omit<FakePaypal, 'baseUrl' | 'close' | 'openConnections'> = {
    tokenCalls: 0,
    verifyCalls: 0,
    verifyAnswers: [],
    expectedEvent: RAW,
    events: [],
    tokenAnswer: { status: 200, body: '' },
    problems: [],
  }
  const expectedBasic = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`

  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req)
    const reply = (status: number, json: string, headers: Record<string, string> = {}) =>
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(json)

    if (req.method === 'POST' && req.url === '/v1/oauth2/token') {
      fake.tokenCalls += 1
      if (req.headers.authorization !== expectedBasic) fake.problems.push('token: wrong client credentials')
      if (body !== 'grant_type=client_credentials') fake.problems.push(`token: body ${body}`)
      if (!String(req.headers['content-type']).startsWith('application/x-www-form-urlencoded')) {
        fake.problems.push('token: content-type')
      }
      const { status, body: answerBody, headers } = fake.tokenAnswer
      if (status !== 200) return reply(status, answerBody, headers)
      tokenNumber += 1
      const token = `A21AA-token-${tokenNumber}`
      validTokens.add(token)
      return reply(
        200,
        JSON.stringify({ scope: 'x', access_token: token, token_type: 'Bearer', expires_in: 32400 }),
      )
    }

    if (req.method === 'POST' && req.url === '/v1/notifications/verify-webhook-signature') {
      fake.verifyCalls += 1
      const token = String(req.headers.authorization).replace(/^Bearer /, '')
      if (!validTokens.has(token)) return reply(401, '{"error":"invalid_token"}')
      const prefix =
        `{"auth_algo":"SHA256withRSA","cert_url":${JSON.stringify(CERT_URL)},"transmission_id":"tid-1",` +
        '"transmission_sig":"c2lnbmF0dXJl","transmission_time":"2024-05-12T18:14:14Z",' +
        `"webhook_id":"${WEBHOOK_ID}","webhook_event":`
      if (!body.startsWith(prefix)) fake.problems.push(`verify: unexpected fields ${body.slice(0, 300)}`)
      if (!body.endsWith('}')) fake.problems.push('verify: not closed')
      const event = body.slice(prefix.length, -1)
      fake.events.push(event)
      if (event !== fake.expectedEvent) fake.problems.push('verify: webhook_event is not the delivered body')
      try {
        JSON.parse(body)
      } catch {
        fake.problems.push('verify: not JSON')
      }
      const answer = fake.verifyAnswers.shift() ?? { status: 200, body: '{"verification_status":"SUCCESS"}' }
      if (answer === 'hang') return
      return reply(answer.status, answer.body, answer.headers)
    }
    reply(404, '{}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return Object.assign(fake, {
    baseUrl: `http://127.0.0.1:${port}`,
    openConnections: () =>
      new Promise<number>((resolve, reject) =>
        server.getConnections((err, count) => (err ? reject(err) : resolve(count))),
      ),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  })
}

/** A server a redirect could point to; it records every request that reaches it. */
async function startRecorder() {
  const received: string[] = []
  const server = createServer(async (req, res) => {
    received.push(`${req.method} ${req.url} ${await readBody(req)}`)
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"verification_status":"SUCCESS"}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

let paypal: FakePaypal
beforeEach(async () => {
  paypal = await startFakePaypal()
})
afterEach(async () => {
  expect(paypal.problems).toEqual([])
  await paypal.close()
})

const apiProvider = (overrides: Partial<PaypalProviderOptions> = {}) =>
  createPaypalProvider({
    webhookIds: [WEBHOOK_ID],
    mode: 'api',
    certHosts: [],
    api: { baseUrl: paypal.baseUrl, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
    ...overrides,
  })

/** PayPal headers as delivered; the signature is opaque here since PayPal's API is the one checking it. */
function apiDelivery(body: string | Uint8Array = RAW) {
  const d = signedDelivery({
    body,
    certUrl: CERT_URL,
    transmissionId: 'tid-1',
    transmissionTime: '2024-05-12T18:14:14Z',
  })
  return withHeader(d, 'paypal-transmission-sig', 'c2lnbmF0dXJl')
}

describe('PayPal API mode', () => {
  it('SUCCESS yields the event, and PayPal received the body byte for byte', async () => {
    const events = await apiProvider().verify(apiDelivery())
    expect(events).toEqual([
      {
        provider: 'paypal',
        id: 'WH-API-1',
        type: 'CHECKOUT.ORDER.APPROVED',
        payload: JSON.parse(RAW),
        payloadJson: RAW,
        occurredAt: new Date('2024-05-12T18:13:13Z'),
        transmission: {
          id: 'tid-1',
          bodySha256: createHash('sha256').update(RAW).digest('hex'),
          signedAt: new Date('2024-05-12T18:14:14Z'),
        },
      },
    ])
    expect(paypal.events).toEqual([RAW])
    // Sanity check of the fake: a re-serialised body would have been different.
    expect(JSON.stringify(JSON.parse(RAW))).not.toBe(RAW)
  })

  it('builds the documented request body by splicing', () => {
    const body = postbackBody(
      { authAlgo: 'A', certUrl: 'u"', transmissionId: 'i', transmissionSig: 's', transmissionTime: 't' },
      'W',
      '{ "x" : 1.0 }',
    )
    expect(body).toBe(
      '{"auth_algo":"A","cert_url":"u\\"","transmission_id":"i","transmission_sig":"s","transmission_time":"t","webhook_id":"W","webhook_event":{ "x" : 1.0 }}',
    )
  })

  it('caches the OAuth token: one token call for several verifications', async () => {
    const provider = apiProvider()
    for (let i = 0; i < 4; i++) await provider.verify(apiDelivery())
    await Promise.all([provider.verify(apiDelivery()), provider.verify(apiDelivery())])
    expect(paypal.tokenCalls).toBe(1)
    expect(paypal.verifyCalls).toBe(6)
  })

  it('FAILURE is a 400 invalid_signature', async () => {
    paypal.verifyAnswers.push({ status: 200, body: '{"verification_status":"FAILURE"}' })
    const error = await expectAppError(
      apiProvider().verify(apiDelivery()),
      'invalid_signature',
      'bad_signature',
    )
    expect(error.status).toBe(400)
  })

  it('PayPal refusing the request as invalid (400) is a 400', async () => {
    paypal.verifyAnswers.push({ status: 400, body: '{"name":"VALIDATION_ERROR"}' })
    await expectAppError(apiProvider().verify(apiDelivery()), 'invalid_signature', 'paypal_rejected')
  })

  it.each([
    ['HTTP 500', { status: 500, body: '{"name":"INTERNAL_SERVICE_ERROR"}' }],
    ['HTTP 503', { status: 503, body: '' }],
    ['HTTP 429', { status: 429, body: '{}' }],
    ['garbage', { status: 200, body: '<html>' }],
    ['an unknown status', { status: 200, body: '{"verification_status":"PENDING"}' }],
    ['a JSON array', { status: 200, body: '["SUCCESS"]' }],
  ])('%s is a 503 verification_unavailable', async (_, answer) => {
    paypal.verifyAnswers.push(answer)
    const error = await expectAppError(apiProvider().verify(apiDelivery()), 'verification_unavailable')
    expect(error.status).toBe(503)
  })

  it('a hanging API is a 503 within the timeout', async () => {
    paypal.verifyAnswers.push('hang')
    const started = Date.now()
    await expectAppError(
      apiProvider({ fetchTimeoutMs: 300 }).verify(apiDelivery()),
      'verification_unavailable',
    )
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it('an unreachable API is a 503', async () => {
    const baseUrl = paypal.baseUrl
    await paypal.close()
    const provider = apiProvider({ api: { baseUrl, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET } })
    await expectAppError(provider.verify(apiDelivery()), 'verification_unavailable', 'paypal_api_unavailable')
    paypal = await startFakePaypal()
  })

  it('a 401 on verify drops the cached token, fetches a new one and retries once', async () => {
    const provider = apiProvider()
    await provider.verify(apiDelivery())
    paypal.verifyAnswers.push({ status: 401, body: '{"error":"invalid_token"}' })
    expect(await provider.verify(apiDelivery())).toHaveLength(1)
    expect(paypal.tokenCalls).toBe(2)
    expect(paypal.verifyCalls).toBe(3)
  })

  it('a 401 twice in a row is a 503 (our credentials, not the delivery)', async () => {
    paypal.verifyAnswers.push({ status: 401, body: '{}' }, { status: 401, body: '{}' })
    await expectAppError(
      apiProvider().verify(apiDelivery()),
      'verification_unavailable',
      'paypal_api_unauthorized',
    )
  })

  it('a refused token request is a 503', async () => {
    paypal.tokenAnswer = { status: 401, body: '{"error":"invalid_client"}' }
    await expectAppError(
      apiProvider().verify(apiDelivery()),
      'verification_unavailable',
      'paypal_token_failed',
    )
    paypal.tokenAnswer = { status: 200, body: '' }
  })

  it.each([307, 308, 302])(
    'a %i from the API is a 503 and is not followed: neither the payload nor the grant goes elsewhere',
    async (status) => {
      const elsewhere = await startRecorder()
      try {
        paypal.verifyAnswers.push({ status, body: '', headers: { location: `${elsewhere.url}/verify` } })
        await expectAppError(
          apiProvider().verify(apiDelivery()),
          'verification_unavailable',
          'paypal_api_unavailable',
        )
        paypal.tokenAnswer = { status, body: '', headers: { location: `${elsewhere.url}/token` } }
        await expectAppError(
          apiProvider().verify(apiDelivery()),
          'verification_unavailable',
          'paypal_token_failed',
        )
        paypal.tokenAnswer = { status: 200, body: '' }
        expect(elsewhere.received).toEqual([])
        // The fake did answer with the redirects: the first verification reached it with a token.
        expect(paypal.verifyCalls).toBe(1)
      } finally {
        await elsewhere.close()
      }
    },
  )

  it('refused token requests leave no connection open behind them', async () => {
    paypal.tokenAnswer = { status: 503, body: JSON.stringify({ error: 'x'.repeat(100_000) }) }
    for (let i = 0; i < 20; i++) {
      await expectAppError(
        apiProvider().verify(apiDelivery()),
        'verification_unavailable',
        'paypal_token_failed',
      )
    }
    paypal.tokenAnswer = { status: 200, body: '' }
    expect(paypal.tokenCalls).toBe(20)
    // Not one per attempt (20 without the body cancelled): a kept-alive one, perhaps one still closing.
    expect(await paypal.openConnections()).toBeLessThan(5)
  })

  it(`at most ${MAX_API_VERIFICATIONS} verifications wait on PayPal at once; one more is a 503 without a call`, async () => {
    const provider = apiProvider({ fetchTimeoutMs: 1000 })
    // Token fetched first, so every verification below goes straight to the (hanging) verify call.
    await provider.verify(apiDelivery())
    for (let i = 0; i < MAX_API_VERIFICATIONS; i++) paypal.verifyAnswers.push('hang')
    const waiting = Array.from({ length: MAX_API_VERIFICATIONS }, () =>
      expectAppError(provider.verify(apiDelivery()), 'verification_unavailable', 'paypal_api_unavailable'),
    )
    await expectAppError(provider.verify(apiDelivery()), 'verification_unavailable', 'paypal_api_busy')
    await Promise.all(waiting)
    expect(paypal.verifyCalls).toBe(1 + MAX_API_VERIFICATIONS)
    // The slots are free again once those calls ended.
    expect(await provider.verify(apiDelivery())).toHaveLength(1)
  })

  it('a body that is not one JSON object is refused (400) without calling PayPal', async () => {
    const bodies = [
      'not json',
      '[]',
      '"string"',
      '{},"webhook_id":"ATTACKER"',
      '{"id":"WH-1"} {"id":"WH-2"}',
      new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]),
      `\ufeff${RAW}`,
    ]
    for (const body of bodies) {
      await expectAppError(apiProvider().verify(apiDelivery(body)), 'invalid_signature', 'malformed_body')
    }
    expect(paypal.tokenCalls + paypal.verifyCalls).toBe(0)
  })

  it('missing headers or another algorithm are refused (400) without calling PayPal', async () => {
    await expectAppError(
      apiProvider().verify(withHeader(apiDelivery(), 'paypal-transmission-sig', undefined)),
      'invalid_signature',
      'missing_header',
    )
    await expectAppError(
      apiProvider().verify(withHeader(apiDelivery(), 'paypal-auth-algo', 'SHA1withRSA')),
      'invalid_signature',
      'unsupported_auth_algo',
    )
    expect(paypal.tokenCalls + paypal.verifyCalls).toBe(0)
  })

  it('a verified body without id or event_type is invalid_event', async () => {
    paypal.expectedEvent = '{"event_type":"X","resource":{}}'
    await expectAppError(
      apiProvider().verify(apiDelivery('{"event_type":"X","resource":{}}')),
      'invalid_event',
    )
  })

  it('refuses to start with more than one webhook id: PayPal checks one per call, offline mode takes several', () => {
    expect(() => apiProvider({ webhookIds: [WEBHOOK_ID, '2KF38221TX8452217'] })).toThrow(
      /api mode verifies with one webhook id; offline mode takes several/,
    )
    expect(paypal.tokenCalls + paypal.verifyCalls).toBe(0)
  })

  it('refuses to start without API credentials', () => {
    expect(() => createPaypalProvider({ webhookIds: [WEBHOOK_ID], mode: 'api', certHosts: [] })).toThrow(
      /api mode/,
    )
  })
})
