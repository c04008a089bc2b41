/**
 * PayPal test doubles: the throwaway PKI under test/fixtures/paypal-local, a loopback HTTPS server playing
 * PayPal's certificate host (counting every TCP connection), and deliveries signed exactly as PayPal signs.
 */
import { randomUUID, sign } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import type { RawDelivery } from '../../src/providers/provider.ts'
import { spawnService } from '../support/spawn-service.ts'
import { fixtureText } from './helpers.ts'

export const pki = {
  ca: fixtureText('paypal-local/ca.pem'),
  signingCert: fixtureText('paypal-local/signing.pem'),
  signingKey: fixtureText('paypal-local/signing.key'),
  cnOnlyCert: fixtureText('paypal-local/signing-cn-only.pem'),
  cnOnlyKey: fixtureText('paypal-local/signing-cn-only.key'),
  wrongSubjectCert: fixtureText('paypal-local/wrong-subject.pem'),
  wrongSubjectKey: fixtureText('paypal-local/wrong-subject.key'),
  tlsCert: fixtureText('paypal-local/tls-server.pem'),
  tlsKey: fixtureText('paypal-local/tls-server.key'),
}

export const CERT_PATH = '/v1/notifications/certs/CERT-test'
export const WEBHOOK_ID = '8PT597110X687430LKGECATA'

export type Handler = (req: IncomingMessage, res: ServerResponse) => void

export interface CountingServer {
  readonly port: number
  readonly host: string
  /** TCP connections accepted so far (counted before TLS, so even a refused handshake counts). */
  readonly connections: number
  readonly requests: string[]
  url(path?: string): string
  close(): Promise<void>
}

/** An HTTPS server on 127.0.0.1 with the loopback TLS certificate; `handler` defaults to serving `pem`. */
export async function startCertHost(handler: Handler): Promise<CountingServer> {
  const server = createServer({ key: pki.tlsKey, cert: pki.tlsCert }, (req, res) => {
    state.requests.push(req.url ?? '')
    handler(req, res)
  })
  const state = { connections: 0, requests: [] as string[] }
  server.on('connection', () => {
    state.connections += 1
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    host: `127.0.0.1:${port}`,
    get connections() {
      return state.connections
    },
    requests: state.requests,
    url: (path = CERT_PATH) => `https://127.0.0.1:${port}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

export const servePem =
  (pem: string): Handler =>
  (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-pem-file' })
    res.end(pem)
  }

export interface SignOptions {
  body: string | Uint8Array
  certUrl: string
  key?: string
  webhookId?: string
  transmissionId?: string
  transmissionTime?: string
  authAlgo?: string
  receivedAt?: Date
}

/**
 * A delivery signed the way PayPal does it, computed here independently of the code under test:
 * SHA256withRSA over `transmissionId|transmissionTime|webhookId|crc32(body)`.
 */
export function signedDelivery(opts: SignOptions): RawDelivery {
  const body = typeof opts.body === 'string' ? new TextEncoder().encode(opts.body) : opts.body
  // As PayPal does: a new transmission id for every transmission, signed at the time it is sent.
  const transmissionId = opts.transmissionId ?? randomUUID()
  const transmissionTime =
    opts.transmissionTime ?? (opts.receivedAt ?? new Date()).toISOString().replace(/\.\d{3}Z$/, 'Z')
  const message = `${transmissionId}|${transmissionTime}|${opts.webhookId ?? WEBHOOK_ID}|${crc32(body)}`
  const signature = sign('sha256', Buffer.from(message), opts.key ?? pki.signingKey).toString('base64')
  return {
    headers: new Headers({
      'paypal-transmission-id': transmissionId,
      'paypal-transmission-time': transmissionTime,
      'paypal-transmission-sig': signature,
      'paypal-cert-url': opts.certUrl,
      'paypal-auth-algo': opts.authAlgo ?? 'SHA256withRSA',
      'paypal-auth-version': 'v2',
    }),
    body,
    receivedAt: opts.receivedAt ?? new Date(),
  }
}

export const sampleEvent = (id = 'WH-2WR32451HC0233532-67976317FL4543714') =>
  JSON.stringify({
    id,
    event_version: '1.0',
    create_time: '2024-05-12T18:13:13.000Z',
    resource_type: 'sale',
    event_type: 'PAYMENT.SALE.COMPLETED',
    summary: 'Payment completed for $ 7.47 USD',
    resource: { amount: { total: '7.47', currency: 'USD' }, id: '80021663DE681814L', state: 'completed' },
  })

/** With a header replaced (or removed when `value` is undefined). */
export function withHeader(delivery: RawDelivery, name: string, value: string | undefined): RawDelivery {
  const headers = new Headers(delivery.headers)
  if (value === undefined) headers.delete(name)
  else headers.set(name, value)
  return { ...delivery, headers }
}

/**
 * Runs the real service process (in `dir`) with PayPal configured against a local certificate host, trusted
 * through NODE_EXTRA_CA_CERTS as an operator would trust it, sends it one signed delivery of a new event and
 * answers the delivery's status and body. `env` adds to the service's environment.
 */
export async function deliverToServiceProcess(
  dir: string,
  env: Record<string, string> = {},
): Promise<{ status: number; body: unknown }> {
  const certHost = await startCertHost(servePem(pki.signingCert))
  const caFile = join(dir, 'ca.pem')
  writeFileSync(caFile, pki.ca)
  mkdirSync(join(dir, 'handlers'), { recursive: true })
  const svc = await spawnService({
    DATABASE_URL: join(dir, 'db.sqlite'),
    HANDLERS_DIR: join(dir, 'handlers'),
    PAYPAL_WEBHOOK_ID: WEBHOOK_ID,
    PAYPAL_CERT_HOSTS: certHost.host,
    NODE_EXTRA_CA_CERTS: caFile,
    ...env,
  })
  try {
    const d = signedDelivery({ body: sampleEvent(`WH-${Date.now()}-P`), certUrl: certHost.url() })
    const res = await fetch(`${svc.url}/webhooks/paypal`, {
      method: 'POST',
      body: Buffer.from(d.body),
      headers: d.headers,
    })
    return { status: res.status, body: await res.json() }
  } finally {
    svc.proc.kill('SIGTERM')
    await svc.exited
    await certHost.close()
  }
}
