/**
 * Offline verification end to end with the throwaway PKI: a loopback HTTPS host serves the signing
 * certificate, deliveries are signed with its private key exactly as PayPal does, and provider.verify
 * must accept them, reject every forgery, and fetch each certificate only once.
 */
import { createHash } from 'node:crypto'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  type CertCache,
  createMemoryCertCache,
  createPaypalProvider,
  type PaypalProviderOptions,
} from '../../src/providers/paypal/index.ts'
import { expectAppError } from './helpers.ts'
import {
  CERT_PATH,
  type CountingServer,
  pki,
  sampleEvent,
  servePem,
  signedDelivery,
  startCertHost,
  WEBHOOK_ID,
  withHeader,
} from './paypal-fixtures.ts'

let host: CountingServer
let served = pki.signingCert
beforeEach(async () => {
  served = pki.signingCert
  host = await startCertHost((req, res) => servePem(served)(req, res))
})
afterEach(() => host.close())

const makeProvider = (overrides: Partial<PaypalProviderOptions> = {}) =>
  createPaypalProvider({
    webhookIds: [WEBHOOK_ID],
    mode: 'offline',
    certHosts: [host.host],
    ca: pki.ca,
    ...overrides,
  })
const sign = (overrides: Partial<Parameters<typeof signedDelivery>[0]> = {}) =>
  signedDelivery({ body: sampleEvent(), certUrl: host.url(), ...overrides })

describe('PayPal offline verification (local PKI)', () => {
  it('accepts a delivery signed with the PayPal-named certificate and returns its event', async () => {
    const provider = makeProvider()
    expect(provider.name).toBe('paypal')
    expect(provider.acceptedBody).toBeUndefined()
    const events = await provider.verify(
      sign({ transmissionId: 'tid-accepted', transmissionTime: '2024-05-12T18:14:14Z' }),
    )
    expect(events).toEqual([
      {
        provider: 'paypal',
        id: 'WH-2WR32451HC0233532-67976317FL4543714',
        type: 'PAYMENT.SALE.COMPLETED',
        payload: JSON.parse(sampleEvent()),
        payloadJson: sampleEvent(),
        occurredAt: new Date('2024-05-12T18:13:13.000Z'),
        // The transmission, bound to this exact body by the inbox (PayPal signs only the body's CRC-32).
        transmission: {
          id: 'tid-accepted',
          bodySha256: createHash('sha256').update(sampleEvent()).digest('hex'),
          // Its signed time: the binding is kept from it when that is later than the arrival.
          signedAt: new Date('2024-05-12T18:14:14Z'),
        },
      },
    ])
    expect(host.requests).toEqual([CERT_PATH])
  })

  it('reads the headers case-insensitively', async () => {
    const d = sign()
    const upper = new Headers()
    d.headers.forEach((value, name) => {
      upper.set(name.toUpperCase(), value)
    })
    expect(await makeProvider().verify({ ...d, headers: upper })).toHaveLength(1)
  })

  it('uses the first certificate of a chain download, and accepts a sandbox name in the CN only', async () => {
    served = `${pki.signingCert}\n${pki.ca}`
    expect(await makeProvider().verify(sign())).toHaveLength(1)
    served = pki.cnOnlyCert
    expect(await makeProvider().verify(sign({ key: pki.cnOnlyKey }))).toHaveLength(1)
  })

  it.each([
    'paypal-transmission-id',
    'paypal-transmission-time',
    'paypal-transmission-sig',
    'paypal-cert-url',
    'paypal-auth-algo',
  ])('rejects a delivery without %s (400 missing_header) without any connection', async (name) => {
    await expectAppError(
      makeProvider().verify(withHeader(sign(), name, undefined)),
      'invalid_signature',
      'missing_header',
    )
    await expectAppError(
      makeProvider().verify(withHeader(sign(), name, '')),
      'invalid_signature',
      'missing_header',
    )
    expect(host.connections).toBe(0)
  })

  it.each(['SHA1withRSA', 'sha256withrsa', 'SHA512withRSA', 'none'])(
    'rejects PAYPAL-AUTH-ALGO %s (400) without any connection',
    async (algo) => {
      const error = await expectAppError(
        makeProvider().verify(sign({ authAlgo: algo })),
        'invalid_signature',
        'unsupported_auth_algo',
      )
      expect(error.status).toBe(400)
      expect(host.connections).toBe(0)
    },
  )

  it('rejects forgeries: altered body, another webhook id, another key, altered headers', async () => {
    const provider = makeProvider()
    const good = sign()
    const forgeries = [
      { ...good, body: new TextEncoder().encode(sampleEvent('WH-OTHER')) },
      sign({ webhookId: 'ANOTHER_WEBHOOK' }),
      sign({ webhookId: 'WEBHOOK_ID' }),
      sign({ key: pki.wrongSubjectKey }),
      withHeader(good, 'paypal-transmission-id', 'c2384410-f8d2-11e4-8bf3-77339302725b'),
      withHeader(good, 'paypal-transmission-time', '2024-05-12T18:14:15Z'),
      withHeader(good, 'paypal-transmission-sig', 'AAAA'),
    ]
    for (const forged of forgeries) {
      await expectAppError(provider.verify(forged), 'invalid_signature', 'bad_signature')
    }
  })

  it('with several webhook ids, accepts a delivery signed for any of them and refuses one for an id not listed', async () => {
    // Two webhooks posting to this URL: a second REST app's, or an old one and its re-created successor.
    const provider = makeProvider({ webhookIds: [WEBHOOK_ID, 'SECONDWEBHOOK77'] })
    for (const [index, webhookId] of [WEBHOOK_ID, 'SECONDWEBHOOK77'].entries()) {
      const body = sampleEvent(`WH-FOR-${webhookId}`)
      const events = await provider.verify(sign({ webhookId, body, transmissionId: `tid-${webhookId}` }))
      expect(events).toHaveLength(1)
      expect(events[0]).toMatchObject({
        id: `WH-FOR-${webhookId}`,
        // Bound to its body like any other: the inbox refuses the transmission with another body.
        transmission: {
          id: `tid-${webhookId}`,
          bodySha256: createHash('sha256').update(body).digest('hex'),
        },
        // Which id it verified under, for the delivery's log line.
        webhookIdIndex: index,
      })
    }
    for (const webhookId of ['THIRDWEBHOOK99', 'WEBHOOK_ID', `${WEBHOOK_ID}SECONDWEBHOOK77`]) {
      const error = await expectAppError(
        provider.verify(sign({ webhookId })),
        'invalid_signature',
        'bad_signature',
      )
      expect(error.status).toBe(400)
    }
    // One certificate serves every webhook: fetched once.
    expect(host.connections).toBe(1)
  })

  it('refuses to start without a webhook id, or with an empty one', () => {
    expect(() => makeProvider({ webhookIds: [] })).toThrow(/webhook id is required/)
    expect(() => makeProvider({ webhookIds: [WEBHOOK_ID, ''] })).toThrow(/webhook id is empty/)
  })

  it('rejects a correctly signed delivery whose certificate has the wrong subject (400), and does not cache it', async () => {
    served = pki.wrongSubjectCert
    const provider = makeProvider()
    const d = sign({ key: pki.wrongSubjectKey })
    await expectAppError(provider.verify(d), 'invalid_signature', 'cert_subject')
    await expectAppError(provider.verify(d), 'invalid_signature', 'cert_subject')
    expect(host.connections).toBe(2)
  })

  it('checks the validity window with the injected clock (cert_expired, 400)', async () => {
    for (const now of [new Date('2200-01-01T00:00:00Z'), new Date('2000-01-01T00:00:00Z')]) {
      const error = await expectAppError(
        makeProvider({ now: () => now }).verify(sign()),
        'invalid_signature',
        'cert_expired',
      )
      expect(error.status).toBe(400)
    }
    // Without `now`, the delivery's receivedAt is the clock.
    await expectAppError(
      makeProvider().verify(sign({ receivedAt: new Date('2200-01-01T00:00:00Z') })),
      'invalid_signature',
      'cert_expired',
    )
  })

  it('with maxTransmissionAgeMs, refuses a transmission signed longer ago, or at a time that is not a date', async () => {
    const day = 86_400_000
    const receivedAt = new Date()
    const provider = makeProvider({ maxTransmissionAgeMs: 400 * day })
    const sentAgo = (ms: number) =>
      sign({ receivedAt, transmissionTime: new Date(receivedAt.getTime() - ms).toISOString() })
    expect(await provider.verify(sentAgo(399 * day))).toHaveLength(1)
    // PayPal's clock ahead of ours is no reason to refuse.
    expect(await provider.verify(sentAgo(-day))).toHaveLength(1)
    const stale = await expectAppError(
      provider.verify(sentAgo(401 * day)),
      'invalid_signature',
      'stale_transmission',
    )
    expect(stale.status).toBe(400)
    await expectAppError(
      provider.verify(sign({ receivedAt, transmissionTime: 'yesterday' })),
      'invalid_signature',
      'malformed_header',
    )
    // Without the option (the provider alone), the time is only signed, as PayPal's SDKs treat it.
    expect(await makeProvider().verify(sentAgo(4000 * day))).toHaveLength(1)
  })

  it('a verified body that is not an event is invalid_event', async () => {
    const provider = makeProvider()
    const cases = [
      'not json',
      '[]',
      '{"event_type":"PAYMENT.SALE.COMPLETED"}',
      '{"id":"","event_type":"PAYMENT.SALE.COMPLETED"}',
      `{"id":"${'W'.repeat(256)}","event_type":"X"}`,
      '{"id":42,"event_type":"X"}',
      '{"id":"WH-1"}',
      '{"id":"WH-1","event_type":""}',
    ]
    for (const body of cases) {
      await expectAppError(provider.verify(sign({ body })), 'invalid_event')
    }
    const events = await provider.verify(
      sign({ body: `{"id":"${'W'.repeat(255)}","event_type":"X","create_time":"?"}` }),
    )
    expect(events[0]?.occurredAt).toBeUndefined()
  })

  it('never puts a signature or the body in an error message', async () => {
    const d = withHeader(sign(), 'paypal-transmission-sig', 'U0VDUkVUU0lHTkFUVVJF')
    const error = await expectAppError(makeProvider().verify(d), 'invalid_signature', 'bad_signature')
    expect(error.message).not.toContain('U0VDUkVU')
    expect(error.message).not.toContain('WH-2WR')
  })
})

describe('PayPal certificate cache', () => {
  /** A persistent cache double that records its traffic, like the database-backed one. */
  function recordingCache(): CertCache & { entries: Map<string, string>; gets: number } {
    const entries = new Map<string, string>()
    return {
      entries,
      gets: 0,
      async get(url) {
        this.gets += 1
        return entries.get(url)
      },
      async put(url, pem) {
        entries.set(url, pem)
      },
    }
  }

  it('fetches the certificate once: the second verify makes no new connection', async () => {
    const provider = makeProvider()
    await provider.verify(sign())
    await provider.verify(sign({ body: sampleEvent('WH-SECOND') }))
    expect(host.connections).toBe(1)
  })

  it('survives a restart: a new provider over the same persistent cache makes no connection', async () => {
    const persistent = recordingCache()
    await makeProvider({ certCache: persistent }).verify(sign())
    expect(host.connections).toBe(1)
    expect([...persistent.entries.keys()]).toEqual([host.url()])
    expect(persistent.entries.get(host.url())).toContain('-----BEGIN CERTIFICATE-----')

    const restarted = makeProvider({ certCache: persistent })
    await restarted.verify(sign())
    await restarted.verify(sign())
    expect(host.connections).toBe(1)
    // After the first read the memory level answers; the persistent level is read once per process.
    expect(persistent.gets).toBe(2)
  })

  it('shares one download between concurrent deliveries', async () => {
    const provider = makeProvider()
    const results = await Promise.all(Array.from({ length: 8 }, () => provider.verify(sign())))
    expect(results.flat()).toHaveLength(8)
    expect(host.connections).toBe(1)
  })

  it('treats a bad persistent entry as a miss and a failing persistent cache as absent', async () => {
    const persistent = recordingCache()
    persistent.entries.set(host.url(), 'not a certificate')
    await makeProvider({ certCache: persistent }).verify(sign())
    expect(host.connections).toBe(1)
    expect(persistent.entries.get(host.url())).toContain('BEGIN CERTIFICATE')

    const broken: CertCache = {
      get: () => Promise.reject(new Error('database down')),
      put: () => Promise.reject(new Error('database down')),
    }
    const provider = makeProvider({ certCache: broken })
    await provider.verify(sign())
    await provider.verify(sign())
    expect(host.connections).toBe(2)
  })

  it('a cached certificate still has its validity checked on every use', async () => {
    let now = new Date('2030-01-01T00:00:00Z')
    const provider = makeProvider({ now: () => now })
    await provider.verify(sign())
    now = new Date('2200-01-01T00:00:00Z')
    await expectAppError(provider.verify(sign()), 'invalid_signature', 'cert_expired')
    expect(host.connections).toBe(1)
  })

  it('the memory cache is bounded, dropping the oldest entry', async () => {
    const cache = createMemoryCertCache(2)
    await cache.put('a', '1')
    await cache.put('b', '2')
    await cache.put('c', '3')
    expect([await cache.get('a'), await cache.get('b'), await cache.get('c')]).toEqual([undefined, '2', '3'])
  })
})
