/**
 * PAYPAL-CERT-URL is attacker-controlled. Disallowed URLs must be refused before any network access
 * (proved by servers that count TCP connections), and allowed hosts that misbehave (redirects, huge or
 * slow answers, non-PEM, untrusted TLS) must give 503 so PayPal retries, never a followed redirect.
 */
import { createServer, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkCertUrl, createPaypalProvider } from '../../src/providers/paypal/index.ts'
import { expectAppError } from './helpers.ts'
import {
  CERT_PATH,
  type CountingServer,
  type Handler,
  pki,
  sampleEvent,
  servePem,
  signedDelivery,
  startCertHost,
  WEBHOOK_ID,
} from './paypal-fixtures.ts'

const CERT = 'CERT-360caa42-fca2a594-a5cafa77'
const LIVE = ['api.paypal.com', 'api-m.paypal.com']

describe('checkCertUrl (pure)', () => {
  it.each([
    [`https://api.paypal.com/v1/notifications/certs/${CERT}`, LIVE],
    [`https://api-m.paypal.com/v1/notifications/certs/${CERT}`, LIVE],
    [`https://API.PayPal.COM/v1/notifications/certs/${CERT}`, LIVE],
    [`https://api.paypal.com:443/v1/notifications/certs/${CERT}`, LIVE],
    [`https://api.paypal.com/v1/notifications/certs/${CERT}`, ['api.paypal.com:443']],
    [`https://127.0.0.1:8443/v1/notifications/certs/${CERT}`, ['127.0.0.1:8443']],
    [`https://[::1]:8443/v1/notifications/certs/${CERT}`, ['[::1]:8443']],
  ])('allows %s for %j', (url, hosts) => {
    expect(checkCertUrl(url, hosts).pathname).toBe(`/v1/notifications/certs/${CERT}`)
  })

  it.each([
    ['http scheme', `http://api.paypal.com/v1/notifications/certs/${CERT}`],
    ['another host', `https://evil.example/v1/notifications/certs/${CERT}`],
    ['a subdomain of an allowed host', `https://x.api.paypal.com/v1/notifications/certs/${CERT}`],
    ['an allowed host as a prefix', `https://api.paypal.com.evil.example/v1/notifications/certs/${CERT}`],
    ['a trailing-dot host', `https://api.paypal.com./v1/notifications/certs/${CERT}`],
    ['a non-default port', `https://api.paypal.com:8443/v1/notifications/certs/${CERT}`],
    ['userinfo', `https://user:pw@api.paypal.com/v1/notifications/certs/${CERT}`],
    ['userinfo hiding the real host', `https://api.paypal.com@evil.example/v1/notifications/certs/${CERT}`],
    ['a query', `https://api.paypal.com/v1/notifications/certs/${CERT}?x=1`],
    ['a fragment', `https://api.paypal.com/v1/notifications/certs/${CERT}#x`],
    ['another path', 'https://api.paypal.com/v1/oauth2/token'],
    ['a look-alike path', `https://api.paypal.com/v1/notifications/certsX/${CERT}`],
    ['no certificate name', 'https://api.paypal.com/v1/notifications/certs/'],
    ['a nested path', `https://api.paypal.com/v1/notifications/certs/a/${CERT}`],
    ['dot-dot traversal', 'https://api.paypal.com/v1/notifications/certs/../../oauth2/token'],
    ['dot-dot into the prefix', `https://api.paypal.com/v1/x/../notifications/certs/${CERT}`],
    ['encoded dot-dot', 'https://api.paypal.com/v1/notifications/certs/%2e%2e/%2E%2E/oauth2/token'],
    ['encoded slash', 'https://api.paypal.com/v1/notifications/certs/..%2f..%2foauth2'],
    ['a backslash', `https://api.paypal.com/v1/notifications/certs\\${CERT}`],
    ['link-local metadata', `https://169.254.169.254/v1/notifications/certs/${CERT}`],
    ['loopback', `https://127.0.0.1/v1/notifications/certs/${CERT}`],
    ['file scheme', '/etc/passwd'],
    ['not a URL', 'not a url'],
    ['empty', ''],
  ])('refuses %s', (_, url) => {
    let caught: unknown
    try {
      checkCertUrl(url, LIVE)
    } catch (err) {
      caught = err
    }
    expect(caught).toMatchObject({ kind: 'invalid_signature', reason: 'cert_url_not_allowed', status: 400 })
  })

  it('host:port entries allow exactly that port, bare entries only 443', () => {
    const url = `https://127.0.0.1:8443/v1/notifications/certs/${CERT}`
    expect(() => checkCertUrl(url, ['127.0.0.1'])).toThrow()
    expect(() => checkCertUrl(url, ['127.0.0.1:9443'])).toThrow()
    expect(() =>
      checkCertUrl(`https://127.0.0.1/v1/notifications/certs/${CERT}`, ['127.0.0.1:8443']),
    ).toThrow()
    expect(() => checkCertUrl(url, ['localhost:8443'])).toThrow()
  })
})

describe('disallowed URLs cause zero connections', () => {
  let host: CountingServer
  let other: CountingServer
  beforeAll(async () => {
    host = await startCertHost(servePem(pki.signingCert))
    other = await startCertHost(servePem(pki.signingCert))
  })
  afterAll(async () => {
    await host.close()
    await other.close()
  })

  it('refuses every disallowed URL with 400 cert_url_not_allowed and never connects', async () => {
    const provider = createPaypalProvider({
      webhookIds: [WEBHOOK_ID],
      mode: 'offline',
      certHosts: [host.host],
      ca: pki.ca,
    })
    const p = host.port
    const urls = [
      `http://127.0.0.1:${p}${CERT_PATH}`,
      `https://127.0.0.1:${other.port}${CERT_PATH}`,
      `https://localhost:${p}${CERT_PATH}`,
      `https://[::1]:${p}${CERT_PATH}`,
      `https://127.0.0.2:${p}${CERT_PATH}`,
      `https://127.0.0.1${CERT_PATH}`,
      `https://127.0.0.1:${p}/v1/notifications/other/CERT-test`,
      `https://127.0.0.1:${p}/v1/notifications/certs/../../oauth2/token`,
      `https://127.0.0.1:${p}/v1/notifications/certs/CERT-test?redirect=https://evil.example`,
      `https://user:pw@127.0.0.1:${p}${CERT_PATH}`,
      `https://evil.example@127.0.0.1:${p}${CERT_PATH}`,
      `https://169.254.169.254${CERT_PATH}`,
      `https://169.254.169.254:${p}${CERT_PATH}`,
      `https://api.paypal.com${CERT_PATH}`,
    ]
    for (const url of urls) {
      const error = await expectAppError(
        provider.verify(signedDelivery({ body: sampleEvent(), certUrl: url })),
        'invalid_signature',
        'cert_url_not_allowed',
      )
      expect(error.status).toBe(400)
      expect(error.message).not.toContain('127.0.0.1')
    }
    expect(host.connections).toBe(0)
    expect(other.connections).toBe(0)
  })

  it('refuses to start with a malformed host entry', () => {
    for (const certHosts of [[], ['https://api.paypal.com'], ['api.paypal.com/x'], ['user@api.paypal.com']]) {
      expect(() => createPaypalProvider({ webhookIds: [WEBHOOK_ID], mode: 'offline', certHosts })).toThrow(
        /PayPal provider/,
      )
    }
    expect(() =>
      createPaypalProvider({ webhookIds: [''], mode: 'offline', certHosts: ['api.paypal.com'] }),
    ).toThrow()
  })
})

describe('misbehaving certificate hosts give 503', () => {
  const servers: CountingServer[] = []
  const start = async (handler: Handler) => {
    const server = await startCertHost(handler)
    servers.push(server)
    return server
  }
  afterAll(() => Promise.all(servers.map((s) => s.close())))

  const verifyAgainst = (
    server: CountingServer,
    extra: { fetchTimeoutMs?: number; maxCertBytes?: number; ca?: string } = {},
  ) =>
    createPaypalProvider({
      webhookIds: [WEBHOOK_ID],
      mode: 'offline',
      certHosts: [server.host, ...servers.map((s) => s.host)],
      ca: pki.ca,
      ...extra,
    }).verify(signedDelivery({ body: sampleEvent(), certUrl: server.url() }))

  it('does not follow a redirect, even to an allowed host', async () => {
    const target = await start(servePem(pki.signingCert))
    const redirecting = await start((_req, res) => {
      res.writeHead(302, { location: target.url() }).end()
    })
    const error = await expectAppError(
      verifyAgainst(redirecting),
      'verification_unavailable',
      'cert_fetch_failed',
    )
    expect(error.status).toBe(503)
    expect(redirecting.connections).toBe(1)
    expect(target.connections).toBe(0)
  })

  it.each([404, 500, 204])('HTTP %i is a fetch failure', async (status) => {
    const server = await start((_req, res) => res.writeHead(status).end())
    await expectAppError(verifyAgainst(server), 'verification_unavailable', 'cert_fetch_failed')
  })

  it('a huge declared response is refused, and so is a huge streamed one (aborted early)', async () => {
    const declared = await start((_req, res) => {
      res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) })
      res.write(pki.signingCert)
    })
    await expectAppError(verifyAgainst(declared), 'verification_unavailable', 'cert_fetch_failed')

    let sent = 0
    const streamed = await start((_req, res) => {
      res.writeHead(200)
      const chunk = Buffer.alloc(16 * 1024, 'A')
      const pump = () => {
        while (sent < 50 * 1024 * 1024 && !res.destroyed) {
          sent += chunk.length
          if (!res.write(chunk)) return void res.once('drain', pump)
        }
        res.end()
      }
      res.on('close', () => undefined)
      pump()
    })
    await expectAppError(verifyAgainst(streamed), 'verification_unavailable', 'cert_fetch_failed')
    expect(sent).toBeLessThan(50 * 1024 * 1024)
  })

  it('respects a custom size cap', async () => {
    const server = await start(servePem(pki.signingCert))
    await expectAppError(
      verifyAgainst(server, { maxCertBytes: 100 }),
      'verification_unavailable',
      'cert_fetch_failed',
    )
    expect(await verifyAgainst(server, { maxCertBytes: 4096 })).toHaveLength(1)
  })

  it('a non-PEM answer is 503 and is not cached', async () => {
    const server = await start((_req, res) => res.writeHead(200).end('<html>maintenance</html>'))
    const provider = createPaypalProvider({
      webhookIds: [WEBHOOK_ID],
      mode: 'offline',
      certHosts: [server.host],
      ca: pki.ca,
    })
    const d = signedDelivery({ body: sampleEvent(), certUrl: server.url() })
    const error = await expectAppError(provider.verify(d), 'verification_unavailable', 'cert_unparseable')
    expect(error.status).toBe(503)
    await expectAppError(provider.verify(d), 'verification_unavailable', 'cert_unparseable')
    expect(server.connections).toBe(2)
  })

  it('a corrupt PEM block is 503', async () => {
    const corrupt = '-----BEGIN CERTIFICATE-----\nTUlJQ0FBQUFBQUFB\n-----END CERTIFICATE-----\n'
    const server = await start(servePem(corrupt))
    await expectAppError(verifyAgainst(server), 'verification_unavailable', 'cert_unparseable')
  })

  it('a server that never answers is 503 within the timeout', async () => {
    const server = await start(() => undefined)
    const started = Date.now()
    await expectAppError(
      verifyAgainst(server, { fetchTimeoutMs: 300 }),
      'verification_unavailable',
      'cert_fetch_failed',
    )
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it('a server that sends headers and then trickles the body is 503 within the timeout', async () => {
    const server = await start((_req, res) => {
      res.writeHead(200)
      res.write('-----BEGIN CERTIFICATE-----\n')
      const timer = setInterval(() => res.write('A'), 50)
      res.on('close', () => clearInterval(timer))
    })
    const started = Date.now()
    await expectAppError(
      verifyAgainst(server, { fetchTimeoutMs: 300 }),
      'verification_unavailable',
      'cert_fetch_failed',
    )
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it('a TCP listener that never completes the TLS handshake is 503 within the timeout', async () => {
    const accepted: Socket[] = []
    // Accepts TCP and then says nothing; sockets are tracked only so the test can close them afterwards.
    const silent = createServer((socket) => void accepted.push(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const port = (silent.address() as { port: number }).port
    try {
      const started = Date.now()
      const provider = createPaypalProvider({
        webhookIds: [WEBHOOK_ID],
        mode: 'offline',
        certHosts: [`127.0.0.1:${port}`],
        fetchTimeoutMs: 300,
      })
      await expectAppError(
        provider.verify(
          signedDelivery({ body: sampleEvent(), certUrl: `https://127.0.0.1:${port}${CERT_PATH}` }),
        ),
        'verification_unavailable',
        'cert_fetch_failed',
      )
      expect(Date.now() - started).toBeLessThan(2000)
    } finally {
      for (const socket of accepted) socket.destroy()
      await new Promise((resolve) => silent.close(resolve))
    }
  })

  it("uses Node's default TLS trust: without the test CA the loopback host is not trusted (503)", async () => {
    const server = await start(servePem(pki.signingCert))
    const provider = createPaypalProvider({
      webhookIds: [WEBHOOK_ID],
      mode: 'offline',
      certHosts: [server.host],
    })
    await expectAppError(
      provider.verify(signedDelivery({ body: sampleEvent(), certUrl: server.url() })),
      'verification_unavailable',
      'cert_fetch_failed',
    )
  })

  it('an unreachable allowed host is 503', async () => {
    const server = await start(servePem(pki.signingCert))
    const url = server.url()
    const hostEntry = server.host
    await server.close()
    servers.splice(servers.indexOf(server), 1)
    const provider = createPaypalProvider({
      webhookIds: [WEBHOOK_ID],
      mode: 'offline',
      certHosts: [hostEntry],
      ca: pki.ca,
    })
    await expectAppError(
      provider.verify(signedDelivery({ body: sampleEvent(), certUrl: url })),
      'verification_unavailable',
      'cert_fetch_failed',
    )
  })
})
