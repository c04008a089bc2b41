/**
 * Secrets, signatures and payloads never reach the logs at LOG_LEVEL=info, nor an error body. A service with
 * all three providers and the admin API takes a mix of valid, forged, stale and malformed deliveries (every
 * payload carrying a unique marker, one handler failing with a marked message) and admin calls with wrong
 * credentials; then every captured log line and every answer is searched for each configured secret in
 * each encoding, for every signature that was sent, and for the markers.
 */
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import Database from 'better-sqlite3'
import { DrizzleQueryError } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { storageError } from '../../src/errors.ts'
import { createLogger } from '../../src/logger.ts'
import { describePostgresUrl } from '../../src/storage.ts'
import {
  ADMIN_TOKEN,
  ADYEN_BASIC,
  ADYEN_KEY,
  type HostileService,
  paypalHeaders,
  pki,
  type RawRequest,
  type Reply,
  secretSpellings,
  send,
  startHostileService,
  stripeSign,
  validDelivery,
} from './support.ts'

const MARKER = `payload-marker-${randomBytes(8).toString('hex')}`
const HANDLER_MARKER = `handler-error-marker-${randomBytes(8).toString('hex')}`
const WRONG_TOKEN_MARKER = `wrong-token-${randomBytes(8).toString('hex')}`
const RUN = Date.now().toString(36)

let env: HostileService
/** Every signature value that was put on the wire. */
const sentSignatures: string[] = []
/** Answers that are not the admin API's own event payloads (those legitimately hold the payload). */
const answers: Array<{ what: string; reply: Reply }> = []

async function call(what: string, req: RawRequest) {
  const reply = await send(env.svc.url, req)
  answers.push({ what, reply })
  return reply
}

function delivery(provider: 'stripe' | 'paypal' | 'adyen', body: Buffer, headers: Array<[string, string]>) {
  return call(`${provider} delivery`, {
    path: `/webhooks/${provider}`,
    headers: [...headers, ['Content-Type', 'application/json'], ['Content-Length', String(body.length)]],
    body,
  })
}

const admin = (what: string, path: string, authorization?: string, method = 'GET') =>
  call(what, {
    method,
    path,
    headers: [
      ...(authorization ? ([['Authorization', authorization]] as Array<[string, string]>) : []),
      ['Content-Length', '0'],
    ],
  })

beforeAll(async () => {
  env = await startHostileService(
    { LOG_LEVEL: 'info' },
    {
      'failing.ts': `export default {
  provider: 'stripe',
  events: ['hostile.fail'],
  async handle() { throw new Error(${JSON.stringify(HANDLER_MARKER)}) },
}
`,
    },
  )
  const certUrl = env.certHost.url()

  // Valid deliveries, each with the marker in its payload.
  for (const provider of ['stripe', 'paypal', 'adyen'] as const) {
    const id =
      provider === 'adyen' ? `LOGS${RUN}` : provider === 'paypal' ? `WH-LOGS-${RUN}` : `evt_logs_${RUN}`
    const { body, headers } = validDelivery(provider, id, certUrl, MARKER)
    for (const [name, value] of headers) {
      if (/^(stripe-signature|paypal-transmission-sig|authorization)$/i.test(name)) sentSignatures.push(value)
    }
    expect((await delivery(provider, body, headers)).status).toBe(200)
  }
  const adyenSignature = /"hmacSignature":"([^"]+)"/.exec(
    validDelivery('adyen', `LOGS2${RUN}`, certUrl, MARKER).body.toString(),
  )?.[1]
  if (adyenSignature) sentSignatures.push(adyenSignature)

  // Stripe: a failing handler, a forged signature, a stale one, a body that is not JSON.
  const event = (id: string, type: string) =>
    Buffer.from(JSON.stringify({ id, object: 'event', type, data: { object: { note: MARKER } } }))
  const now = Math.floor(Date.now() / 1000)
  const failing = event(`evt_logs_fail_${RUN}`, 'hostile.fail')
  const signed = stripeSign(failing, now)
  sentSignatures.push(signed.v1)
  expect((await delivery('stripe', failing, [['Stripe-Signature', `t=${now},v1=${signed.v1}`]])).status).toBe(
    500,
  )
  const forged = stripeSign(failing, now, 'whsec_forged')
  sentSignatures.push(forged.v1)
  expect((await delivery('stripe', failing, [['Stripe-Signature', `t=${now},v1=${forged.v1}`]])).status).toBe(
    400,
  )
  const stale = stripeSign(event(`evt_logs_stale_${RUN}`, 'x.y'), now - 3600)
  sentSignatures.push(stale.v1)
  expect(
    (
      await delivery('stripe', event(`evt_logs_stale_${RUN}`, 'x.y'), [
        ['Stripe-Signature', `t=${now - 3600},v1=${stale.v1}`],
      ])
    ).status,
  ).toBe(400)
  const notJson = Buffer.from(`not json ${MARKER}`)
  const notJsonSig = stripeSign(notJson, now)
  sentSignatures.push(notJsonSig.v1)
  expect(
    (await delivery('stripe', notJson, [['Stripe-Signature', `t=${now},v1=${notJsonSig.v1}`]])).status,
  ).toBe(400)

  // PayPal: another key, a disallowed certificate URL, a certificate host serving junk (503).
  const paypalBody = Buffer.from(
    JSON.stringify({ id: `WH-LOGS-BAD-${RUN}`, event_type: 'X.Y', note: MARKER }),
  )
  for (const [headers, status] of [
    [paypalHeaders(paypalBody, certUrl, pki.wrongSubjectKey), 400],
    [paypalHeaders(paypalBody, 'https://169.254.169.254/v1/notifications/certs/CERT-x'), 400],
    [paypalHeaders(paypalBody, env.certHost.url('/v1/notifications/certs/CERT-not-pem')), 503],
  ] as const) {
    const sig = headers.find(([n]) => n === 'PAYPAL-TRANSMISSION-SIG')?.[1]
    if (sig) sentSignatures.push(sig)
    expect((await delivery('paypal', paypalBody, [...headers])).status).toBe(status)
  }

  // Adyen: no credentials, wrong credentials, a forged item.
  const adyen = validDelivery('adyen', `LOGS-BAD${RUN}`, certUrl, MARKER)
  expect((await delivery('adyen', adyen.body, [])).status).toBe(401)
  const wrongBasic = `Basic ${Buffer.from(`adyen-notifier:${WRONG_TOKEN_MARKER}`).toString('base64')}`
  expect((await delivery('adyen', adyen.body, [['Authorization', wrongBasic]])).status).toBe(401)
  const forgedItem = Buffer.from(
    adyen.body.toString().replace(/"hmacSignature":"[^"]+"/, '"hmacSignature":"AAAA"'),
  )
  expect((await delivery('adyen', forgedItem, [['Authorization', ADYEN_BASIC]])).status).toBe(400)

  // Admin: wrong tokens in every form, then legitimate calls.
  for (const authorization of [
    undefined,
    `Bearer ${WRONG_TOKEN_MARKER}`,
    `Bearer ${ADMIN_TOKEN}x`,
    `Basic ${Buffer.from(`ops:${WRONG_TOKEN_MARKER}`).toString('base64')}`,
  ]) {
    expect((await admin('admin with a wrong token', '/admin/api/events', authorization)).status).toBe(401)
    expect(
      (await admin('replay with a wrong token', `/admin/api/events/stripe/x/replay`, authorization, 'POST'))
        .status,
    ).toBe(401)
  }
  expect((await admin('admin list', '/admin/api/events', `Bearer ${ADMIN_TOKEN}`)).status).toBe(200)
  expect((await admin('admin stats', '/admin/api/stats', `Bearer ${ADMIN_TOKEN}`)).status).toBe(200)
  expect((await admin('metrics', '/metrics')).status).toBe(200)
})
afterAll(async () => {
  await env?.dispose()
})

describe('at LOG_LEVEL=info', () => {
  it('the run produced the expected log lines (so the search below is not vacuous)', () => {
    const messages = env.svc.logs.map((line) => (JSON.parse(line) as { msg?: string }).msg)
    expect(messages.filter((m) => m === 'delivery').length).toBeGreaterThanOrEqual(4)
    expect(messages.filter((m) => m === 'delivery rejected').length).toBeGreaterThanOrEqual(9)
    expect(env.svc.logs.every((line) => (JSON.parse(line) as { level: number }).level >= 30)).toBe(true)
  })

  it('no log line holds a secret, in any encoding', () => {
    const logs = env.svc.logs.join('')
    for (const secret of secretSpellings()) expect(logs).not.toContain(secret)
    expect(logs).not.toContain(ADYEN_KEY)
    expect(logs).not.toContain(WRONG_TOKEN_MARKER)
  })

  it('no log line holds a signature that was sent', () => {
    const logs = env.svc.logs.join('')
    expect(sentSignatures.length).toBeGreaterThanOrEqual(10)
    for (const signature of sentSignatures) expect(logs).not.toContain(signature)
  })

  it('no log line holds a payload or a handler`s error text', () => {
    const logs = env.svc.logs.join('')
    expect(logs).not.toContain(MARKER)
    expect(logs).not.toContain(HANDLER_MARKER)
  })

  it('no answer holds a secret, a signature, a payload marker or a handler`s error text', () => {
    expect(answers.length).toBeGreaterThan(20)
    for (const { what, reply } of answers) {
      for (const needle of [...secretSpellings(), ...sentSignatures, WRONG_TOKEN_MARKER]) {
        expect(reply.text, what).not.toContain(needle)
      }
      // A handler's error text is for operators: the authenticated admin API shows it, nothing else does.
      if (what !== 'admin list') expect(reply.text, what).not.toContain(HANDLER_MARKER)
      // Only the admin list may show stored data; the marker sits in payloads, which the list does not include.
      expect(reply.text, what).not.toContain(MARKER)
    }
  })
})

describe('the PostgreSQL URL in the start-up log', () => {
  it('keeps scheme, user, host, port and database, and drops the password wherever it is given', () => {
    expect(describePostgresUrl('postgres://app:s3cret@db.internal:6432/hookinbox?sslmode=require')).toBe(
      'postgres://app@db.internal:6432/hookinbox',
    )
    for (const param of ['password', 'sslpassword', 'sslkey']) {
      const described = describePostgresUrl(`postgresql://app@db/hb?${param}=s3cret&sslmode=require`)
      expect(described).toBe('postgresql://app@db/hb')
    }
    expect(describePostgresUrl('not a url s3cret')).not.toContain('s3cret')
  })
})

describe('a failed query in an error chain', () => {
  it('is logged with its SQL and the driver error, never the values bound to it', () => {
    const secret = `bound-payload-${randomBytes(8).toString('hex')}`
    const db = new Database(':memory:')
    db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, payload TEXT)')
    const insert = db.prepare('INSERT INTO t (k, payload) VALUES (?, ?)')
    insert.run('key', secret)
    let driverError: unknown
    try {
      insert.run('key', secret)
    } catch (err) {
      driverError = err
    }
    db.close()
    // How Drizzle's PostgreSQL session reports a failed query (test/postgres/ logs a real one): message,
    // stack and an enumerable `params` all hold the bound values.
    const failure = new DrizzleQueryError(
      'INSERT INTO t (k, payload) VALUES ($1, $2)',
      ['key', secret],
      driverError as Error,
    )
    expect(failure.message).toContain(secret)
    const lines: string[] = []
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk))
        done()
      },
    })
    const log = createLogger('info', sink)
    log.error({ err: failure }, 'as thrown')
    log.error({ err: storageError(failure) }, 'wrapped, as the inbox answers 503')
    log.child({ eventId: 'evt_1' }).warn({ err: storageError(storageError(failure)) }, 'wrapped twice')
    expect(lines).toHaveLength(3)
    for (const line of lines) {
      expect(line).not.toContain(secret)
      expect(line).toContain('Failed query: INSERT INTO t (k, payload) VALUES ($1, $2)')
      expect(line).toContain('UNIQUE constraint failed: t.k')
    }
  })
})
