/**
 * PayPal API mode when PayPal's API misbehaves: whatever it answers (text holding the access token, an echo of
 * our credentials or of the delivery, errors, non-JSON), the delivery gets a JSON 503 with hookinbox's own
 * words, and no log line at LOG_LEVEL=info holds the access token or any piece of it, the client secret, the
 * Basic credentials, the transmission signature or the payload. The service runs on a loopback port with a
 * loopback fake of PayPal's API.
 *
 * A token endpoint answering 200 with a body that is not JSON used to be logged (the 503's cause) as V8's
 * SyntaxError, whose message quotes the start of the body: `Unexpected token 'A', "A21AAk9fQ3"... is not valid
 * JSON`, the first ten characters of the token.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { paypalHeaders } from '../hostile/support.ts'
import { startTestService, type TestService } from '../support/test-service.ts'
import { WEBHOOK_ID } from './paypal-fixtures.ts'

const CLIENT_ID = `client-id-${randomBytes(6).toString('hex')}`
const CLIENT_SECRET = `client-secret-${randomBytes(12).toString('hex')}`
const BASIC = Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')
/** PayPal's constant `A21AA`, then random: any eight characters of it are found nowhere else. */
const TOKEN = `A21AA${randomBytes(48).toString('base64url')}`
const PAYLOAD_MARKER = `payload-marker-${randomBytes(8).toString('hex')}`
const CERT_URL = 'https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77'

type Answer = { status: number; body: string }
/** What the fake answers, by endpoint, for the case under way; `request` is what it received. */
type Behaviour = {
  token: (request: { authorization: string; body: string }) => Answer
  verify?: (request: { authorization: string; body: string }) => Answer
}

const goodToken = (): Answer => ({
  status: 200,
  body: JSON.stringify({ access_token: TOKEN, token_type: 'Bearer', expires_in: 1 }),
})

const verified = (): Answer => ({ status: 200, body: '{"verification_status":"SUCCESS"}' })

const cases: Array<[string, Behaviour]> = [
  ['the token endpoint answers the bare token as text', { token: () => ({ status: 200, body: TOKEN }) }],
  [
    'the token endpoint answers form-encoded',
    { token: () => ({ status: 200, body: `access_token=${TOKEN}&token_type=Bearer&expires_in=32400` }) },
  ],
  [
    'the token endpoint answers broken JSON',
    { token: () => ({ status: 200, body: `{"access_token":"${TOKEN}",}` }) },
  ],
  [
    'the token endpoint answers JSON with the token in the wrong field',
    { token: () => ({ status: 200, body: JSON.stringify({ token: TOKEN }) }) },
  ],
  [
    'the token endpoint echoes our credentials in an error',
    { token: ({ authorization }) => ({ status: 500, body: `refused: ${authorization}` }) },
  ],
  [
    'the verify endpoint echoes the token and the delivery in an error',
    {
      token: goodToken,
      verify: ({ authorization, body }) => ({ status: 500, body: `failed: ${authorization} ${body}` }),
    },
  ],
  [
    'the verify endpoint echoes the token and the delivery as text',
    {
      token: goodToken,
      verify: ({ authorization, body }) => ({ status: 200, body: `${authorization} ${body}` }),
    },
  ],
  [
    'the verify endpoint refuses the token',
    {
      token: goodToken,
      verify: ({ authorization }) => ({ status: 401, body: `bad token ${authorization}` }),
    },
  ],
]

let behaviour: Behaviour = { token: goodToken }
let fake: Server
let svc: TestService
const answers: Array<{ what: string; status: number; text: string }> = []
const signatures: string[] = []

beforeAll(async () => {
  fake = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => {
      body += chunk
    })
    req.on('end', () => {
      const request = { authorization: String(req.headers.authorization), body }
      const answer =
        req.url === '/v1/oauth2/token' ? behaviour.token(request) : (behaviour.verify ?? verified)(request)
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body)
    })
  })
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve))
  svc = await startTestService({
    env: {
      LOG_LEVEL: 'info',
      PAYPAL_WEBHOOK_ID: WEBHOOK_ID,
      PAYPAL_VERIFY: 'api',
      PAYPAL_API_BASE: `http://127.0.0.1:${(fake.address() as AddressInfo).port}`,
      PAYPAL_CLIENT_ID: CLIENT_ID,
      PAYPAL_CLIENT_SECRET: CLIENT_SECRET,
    },
  })
  for (const [what, b] of cases) {
    behaviour = b
    const body = Buffer.from(
      JSON.stringify({
        id: `WH-${randomBytes(6).toString('hex')}`,
        event_type: 'PAYMENT.CAPTURE.COMPLETED',
        resource: { payer_email: `${PAYLOAD_MARKER}@example.com` },
      }),
    )
    const headers = paypalHeaders(body, CERT_URL)
    signatures.push(headers.find(([name]) => name === 'PAYPAL-TRANSMISSION-SIG')?.[1] ?? '')
    const res = await fetch(`${svc.url}/webhooks/paypal`, {
      method: 'POST',
      headers: [...headers, ['content-type', 'application/json']],
      body,
    })
    answers.push({ what, status: res.status, text: await res.text() })
  }
})

afterAll(async () => {
  await svc?.dispose()
  await new Promise((resolve) => fake?.close(resolve))
})

describe('PayPal API mode, when the API misbehaves', () => {
  it('answers every delivery 503 with a JSON error of its own words', () => {
    expect(answers.map((a) => a.what)).toEqual(cases.map(([what]) => what))
    for (const answer of answers) {
      expect(answer.status, answer.what).toBe(503)
      expect(Object.keys(JSON.parse(answer.text)), answer.what).toEqual(['error'])
    }
  })

  it('logs each failure (so the search below is not vacuous)', () => {
    const rejected = svc.logs.filter((line) => line.includes('"msg":"delivery rejected"'))
    expect(rejected).toHaveLength(cases.length)
  })

  it('puts no part of the token, no credential, no signature and no payload in a log line or an answer', () => {
    const seen = [...svc.logs, ...answers.map((a) => a.text)].join('\n')
    // Any eight characters of the token (V8 quotes the first ten of a text it cannot parse).
    for (let i = 0; i + 8 <= TOKEN.length; i++) expect(seen).not.toContain(TOKEN.slice(i, i + 8))
    for (const needle of [CLIENT_SECRET, BASIC, PAYLOAD_MARKER, ...signatures]) {
      expect(seen).not.toContain(needle)
    }
  })
})
