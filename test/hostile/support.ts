/**
 * Shared machinery of the hostile-input suite: one service with all three providers (and the admin API), a
 * loopback PayPal certificate host that also misbehaves on chosen paths, decoy listeners that count every
 * connection attempt, an HTTP client that sends exactly the bytes and header lines it is given, and signers
 * for each provider computed over the exact body bytes.
 */
import { createHmac, randomUUID, sign } from 'node:crypto'
import { connect, createServer, type Server } from 'node:net'
import { crc32 } from 'node:zlib'
import { notification, randomHexKey, sampleItem, signedItem } from '../providers/adyen-fixtures.ts'
import {
  CERT_PATH,
  type CountingServer,
  type Handler,
  pki,
  startCertHost,
  WEBHOOK_ID,
} from '../providers/paypal-fixtures.ts'
import { STRIPE_SECRET } from '../support/stripe-signing.ts'
import { ADMIN_TOKEN, startTestService, type TestService } from '../support/test-service.ts'

export { ADMIN_TOKEN, CERT_PATH, pki, STRIPE_SECRET, WEBHOOK_ID }

export const PROVIDERS = ['stripe', 'paypal', 'adyen'] as const
export type ProviderName = (typeof PROVIDERS)[number]

export const ADYEN_KEY = randomHexKey()
export const ADYEN_USER = 'adyen-notifier'
export const ADYEN_PASSWORD = 'adyen-basic-password-6a7f'
export const ADYEN_BASIC = `Basic ${Buffer.from(`${ADYEN_USER}:${ADYEN_PASSWORD}`).toString('base64')}`

/** Every configured secret, in every encoding it could leak in. None may appear in a response or a log. */
export function secretSpellings(): string[] {
  const adyenKey = Buffer.from(ADYEN_KEY, 'hex')
  return [
    STRIPE_SECRET,
    STRIPE_SECRET.replace(/^whsec_/, ''),
    ADYEN_KEY,
    ADYEN_KEY.toLowerCase(),
    adyenKey.toString('base64'),
    adyenKey.toString('base64url'),
    ADYEN_PASSWORD,
    Buffer.from(`${ADYEN_USER}:${ADYEN_PASSWORD}`).toString('base64'),
    ADMIN_TOKEN,
    Buffer.from(`admin:${ADMIN_TOKEN}`).toString('base64'),
  ]
}

// ---------------------------------------------------------------------------------------------- signing

/** `t=<t>,v1=<hex>`: HMAC-SHA256 keyed with the whole secret over `<t>.` followed by the exact body bytes. */
export function stripeSign(body: Uint8Array, t: number, secret = STRIPE_SECRET): { t: number; v1: string } {
  const v1 = createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex')
  return { t, v1 }
}

/** PayPal's five transmission headers, signed with `key` over `id|time|webhookId|crc32(body)`. */
export function paypalHeaders(
  body: Uint8Array,
  certUrl: string,
  key = pki.signingKey,
  transmissionId: string = randomUUID(),
  // As PayPal does: a new transmission id for every transmission, signed at the time it is sent.
  sentAt = new Date(),
): Array<[string, string]> {
  const transmissionTime = sentAt.toISOString().replace(/\.\d{3}Z$/, 'Z')
  const message = `${transmissionId}|${transmissionTime}|${WEBHOOK_ID}|${crc32(body)}`
  return [
    ['PAYPAL-TRANSMISSION-ID', transmissionId],
    ['PAYPAL-TRANSMISSION-TIME', transmissionTime],
    ['PAYPAL-TRANSMISSION-SIG', sign('sha256', Buffer.from(message), key).toString('base64')],
    ['PAYPAL-CERT-URL', certUrl],
    ['PAYPAL-AUTH-ALGO', 'SHA256withRSA'],
    ['PAYPAL-AUTH-VERSION', 'v2'],
  ]
}

/** A valid delivery for each provider, each with a fresh event id (`marker` lands in an unsigned field). */
export function validDelivery(
  provider: ProviderName,
  id: string,
  certUrl: string,
  marker = 'no-marker',
): { body: Buffer; headers: Array<[string, string]> } {
  if (provider === 'stripe') {
    const body = Buffer.from(
      JSON.stringify({
        id,
        object: 'event',
        type: 'charge.succeeded',
        created: Math.floor(Date.now() / 1000),
        data: { object: { id: `ch_${id}`, description: marker } },
      }),
    )
    const { t, v1 } = stripeSign(body, Math.floor(Date.now() / 1000))
    return { body, headers: [['Stripe-Signature', `t=${t},v1=${v1}`]] }
  }
  if (provider === 'paypal') {
    const body = Buffer.from(
      JSON.stringify({
        id,
        event_type: 'PAYMENT.CAPTURE.COMPLETED',
        create_time: new Date().toISOString(),
        resource: { id: `cap-${id}`, note_to_payer: marker },
      }),
    )
    return { body, headers: paypalHeaders(body, certUrl) }
  }
  const item = signedItem(sampleItem({ pspReference: id, reason: marker }), ADYEN_KEY)
  return { body: Buffer.from(notification([item])), headers: [['Authorization', ADYEN_BASIC]] }
}

// ------------------------------------------------------------------------------------------- raw HTTP

export interface Reply {
  /** 0 when the connection ended without an HTTP answer. */
  status: number
  text: string
  contentType: string | undefined
  /** The client-side error, if the exchange ended with one (after or instead of an answer). */
  error?: string
}

export interface RawRequest {
  method?: string
  path: string
  /**
   * Header lines exactly as sent: name case kept, repeats and any byte (latin1) allowed. `Host` and
   * `Connection: close` are added unless present; nothing else is (not even Content-Length).
   */
  headers: Array<[string, string]>
  body?: Uint8Array
  /** Leaves the head open (no blank line), for clients that keep sending header lines. */
  openHead?: boolean
}

interface Parsed {
  status: number
  headers: Map<string, string>
  body: Buffer
}

/** Parses an HTTP/1.1 answer once it is complete (by Content-Length, or by close when `ended`). */
function parseAnswer(data: Buffer, ended: boolean): Parsed | undefined {
  const split = data.indexOf('\r\n\r\n')
  if (split === -1) return undefined
  const lines = data.subarray(0, split).toString('latin1').split('\r\n')
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0)
  const headers = new Map<string, string>()
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim())
  }
  let body = data.subarray(split + 4)
  const length = headers.get('content-length')
  if (length !== undefined) {
    if (body.length < Number(length)) return ended ? { status, headers, body } : undefined
    body = body.subarray(0, Number(length))
  } else if (headers.get('transfer-encoding')?.toLowerCase() === 'chunked') {
    const chunks: Buffer[] = []
    let at = 0
    for (;;) {
      const eol = body.indexOf('\r\n', at)
      if (eol === -1) return ended ? { status, headers, body: Buffer.concat(chunks) } : undefined
      const size = Number.parseInt(body.subarray(at, eol).toString('latin1'), 16)
      if (size === 0) break
      if (body.length < eol + 2 + size)
        return ended ? { status, headers, body: Buffer.concat(chunks) } : undefined
      chunks.push(body.subarray(eol + 2, eol + 2 + size))
      at = eol + 2 + size + 2
    }
    body = Buffer.concat(chunks)
  } else if (!ended && status >= 200 && status !== 204 && status !== 304) {
    return undefined
  }
  return { status, headers, body }
}

export interface Exchange {
  /** Resolves with the answer as soon as it is complete, or when the connection ends. */
  reply: Promise<Reply>
  /** Resolves once the head (and body, if given) have been handed to the kernel; never rejects. */
  sent: Promise<void>
  /** Writes more bytes (for streamed bodies); false once the connection is gone. */
  write(bytes: Uint8Array | string): boolean
  readonly answered: boolean
  close(): void
}

/**
 * Opens a connection and sends the head (and body, if given) byte for byte. The answer is read as soon as
 * it is complete, even while the request is still being written.
 */
export function open(baseUrl: string, req: RawRequest, timeoutMs = 10_000): Exchange {
  const url = new URL(baseUrl)
  const pairs = [...req.headers]
  const has = (name: string) => pairs.some(([n]) => n.toLowerCase() === name)
  if (!has('host')) pairs.unshift(['Host', url.host])
  if (!has('connection')) pairs.push(['Connection', 'close'])
  const head = `${req.method ?? 'POST'} ${req.path} HTTP/1.1\r\n${pairs.map(([n, v]) => `${n}: ${v}\r\n`).join('')}${req.openHead ? '' : '\r\n'}`
  const socket = connect(Number(url.port), url.hostname)
  const chunks: Buffer[] = []
  let answered = false
  let resolveReply: (reply: Reply) => void = () => undefined
  const reply = new Promise<Reply>((resolve) => {
    resolveReply = resolve
  })
  const finish = (ended: boolean, error?: string) => {
    if (answered) return
    const parsed = parseAnswer(Buffer.concat(chunks), ended)
    if (!parsed && !ended) return
    answered = true
    clearTimeout(timer)
    socket.destroy()
    resolveReply({
      status: parsed?.status ?? 0,
      text: parsed?.body.toString('utf8') ?? '',
      contentType: parsed?.headers.get('content-type'),
      ...(error ? { error } : {}),
    })
  }
  const timer = setTimeout(() => finish(true, 'client timeout'), timeoutMs)
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk)
    finish(false)
  })
  socket.on('end', () => finish(true))
  socket.on('close', () => finish(true))
  // A server that answers early and closes may reset the connection while we still write: keep the answer.
  socket.on('error', (err) => finish(true, err.message))
  const sent = new Promise<void>((resolve) => {
    // Write callbacks run in order, so the last one means everything was handed over.
    socket.write(Buffer.from(head, 'latin1'), req.body?.byteLength ? undefined : () => resolve())
    if (req.body?.byteLength) socket.write(req.body, () => resolve())
  })
  return {
    reply,
    sent,
    write: (bytes) => !answered && !socket.destroyed && socket.write(bytes),
    get answered() {
      return answered
    },
    close: () => finish(true, 'closed by the test'),
  }
}

/** One request on a fresh connection (closed after the answer), so no case affects the next. */
export function send(baseUrl: string, req: RawRequest, timeoutMs = 10_000): Promise<Reply> {
  return open(baseUrl, req, timeoutMs).reply
}

// ------------------------------------------------------------------------------ certificate host, decoys

/** A TCP listener that counts every connection attempt and answers nothing. */
export interface Decoy {
  readonly port: number
  readonly connections: number
  close(): Promise<void>
}

export async function startDecoy(host: string): Promise<Decoy | undefined> {
  const state = { connections: 0 }
  const server: Server = createServer((socket) => {
    state.connections += 1
    socket.destroy()
  })
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false))
    server.listen(0, host, () => resolve(true))
  })
  if (!listening) return undefined
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  return {
    port,
    get connections() {
      return state.connections
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

const HUGE = 1024 * 1024

/** The PayPal certificate host: the real signing certificate on CERT_PATH, misbehaviour on the others. */
function certHostHandler(decoyPort: () => number): Handler {
  return (req, res) => {
    const name = (req.url ?? '').replace('/v1/notifications/certs/', '')
    switch (name) {
      case 'CERT-test':
        res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(pki.signingCert)
        return
      case 'CERT-wrong-subject':
        res.writeHead(200).end(pki.wrongSubjectCert)
        return
      case 'CERT-not-pem':
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>maintenance</body></html>')
        return
      case 'CERT-corrupt-pem':
        res.writeHead(200).end('-----BEGIN CERTIFICATE-----\nTUlJQ0FBQUFBQUFB\n-----END CERTIFICATE-----\n')
        return
      case 'CERT-huge-declared': {
        const block = `-----BEGIN CERTIFICATE-----\n${'A'.repeat(HUGE)}\n-----END CERTIFICATE-----\n`
        res.writeHead(200, { 'content-length': String(Buffer.byteLength(block)) }).end(block)
        return
      }
      case 'CERT-huge-streamed': {
        res.writeHead(200)
        const chunk = Buffer.alloc(16 * 1024, 'A')
        let sent = 0
        const pump = () => {
          while (sent < HUGE && !res.destroyed) {
            sent += chunk.length
            if (!res.write(chunk)) return void res.once('drain', pump)
          }
          res.end()
        }
        pump()
        return
      }
      case 'CERT-redirect':
        res
          .writeHead(302, { location: `https://127.0.0.1:${decoyPort()}/v1/notifications/certs/CERT-test` })
          .end()
        return
      default:
        res.writeHead(404).end()
    }
  }
}

export interface HostileService {
  svc: TestService
  certHost: CountingServer
  decoy4: Decoy
  /** An IPv6 loopback decoy, when the machine has IPv6 loopback. */
  decoy6: Decoy | undefined
  /** Connections seen so far by every listener that must never be contacted. */
  decoyConnections(): number
  dispose(): Promise<void>
}

/** One service with all three providers, the admin API and the loopback PayPal certificate host. */
export async function startHostileService(
  env: Record<string, string> = {},
  handlers: Record<string, string> = {},
  options: { now?: () => Date } = {},
): Promise<HostileService> {
  const decoy4 = (await startDecoy('127.0.0.1')) as Decoy
  const decoy6 = await startDecoy('::1')
  const certHost = await startCertHost(certHostHandler(() => decoy4.port))
  const svc = await startTestService({
    env: {
      PAYPAL_WEBHOOK_ID: WEBHOOK_ID,
      PAYPAL_CERT_HOSTS: certHost.host,
      ADYEN_HMAC_KEY: ADYEN_KEY,
      ADYEN_BASIC_AUTH: `${ADYEN_USER}:${ADYEN_PASSWORD}`,
      ...env,
    },
    paypal: { ca: pki.ca },
    handlers,
    ...(options.now ? { now: options.now } : {}),
  })
  return {
    svc,
    certHost,
    decoy4,
    decoy6,
    decoyConnections: () => decoy4.connections + (decoy6?.connections ?? 0),
    async dispose() {
      await svc.dispose()
      await certHost.close()
      await decoy4.close()
      await decoy6?.close()
    },
  }
}

/** Rows in hookinbox_events (read through a separate connection, as an operator would). */
export const eventCount = (svc: TestService): number =>
  svc.query<{ n: number }>('SELECT count(*) AS n FROM hookinbox_events')[0]?.n ?? -1

export const isRecorded = (svc: TestService, provider: string, eventId: string): boolean =>
  svc.query('SELECT 1 FROM hookinbox_events WHERE provider = ? AND event_id = ?', provider, eventId).length >
  0

/** Whether Object.prototype gained any property (prototype pollution) since `before`. */
export function prototypeSnapshot(): string[] {
  return Object.getOwnPropertyNames(Object.prototype).sort()
}
