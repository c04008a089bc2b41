/**
 * The four real PayPal-signed sandbox deliveries: pure checks (CRC, signed message, RSA signature) and the
 * whole offline path through provider.verify, with PayPal's real (expired) certificates served from a
 * loopback host. The cert URL is not part of PayPal's signed message, so pointing it at the loopback
 * host keeps the signatures valid.
 */
import { createHash, X509Certificate } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createPaypalProvider,
  paypalCrc32,
  paypalSignedMessage,
  readPaypalTransmission,
  verifyPaypalSignature,
} from '../../src/providers/paypal/index.ts'
import { delivery, expectAppError, fixtureBytes, fixtureText } from './helpers.ts'
import { type CountingServer, pki, startCertHost } from './paypal-fixtures.ts'
import { type PaypalVector, vectors } from './vectors.ts'

const cases = vectors.paypal.map((v, i) => [`P${i + 1}`, v] as const)
const bodyOf = (v: PaypalVector) => fixtureBytes(`vectors/${v.bodyFile}`)
const certOf = (v: PaypalVector) => fixtureText(`vectors/${v.certFile}`)
const sigOf = (v: PaypalVector) => v.headers['paypal-transmission-sig'] ?? ''
const input = (v: PaypalVector) => ({
  transmissionId: v.headers['paypal-transmission-id'] ?? '',
  transmissionTime: v.headers['paypal-transmission-time'] ?? '',
  webhookId: v.webhookId,
  body: bodyOf(v),
  signature: sigOf(v),
  certificate: certOf(v),
})
/** A moment inside the vector's certificate window: its own transmission time. */
const clockOf = (v: PaypalVector) => new Date(v.headers['paypal-transmission-time'] ?? '')

describe('PayPal vectors: pure helpers', () => {
  it.each(vectors.crc32_checks.map((c) => [c.data, c.crc32] as const))('crc32(%j) = %i', (data, crc) => {
    expect(paypalCrc32(Buffer.from(data))).toBe(crc)
  })

  it.each(cases)('%s: CRC-32 (unsigned) and signed message match', (_, v) => {
    expect(paypalCrc32(bodyOf(v))).toBe(v.crc32)
    expect(paypalSignedMessage(input(v))).toBe(v.signedMessage)
  })

  it.each(cases)('%s: the RSA signature verifies with the certificate', (_, v) => {
    expect(verifyPaypalSignature(input(v))).toBe(true)
    expect(verifyPaypalSignature({ ...input(v), certificate: new X509Certificate(certOf(v)) })).toBe(true)
  })

  it.each(cases)('%s: every altered variant fails', (_, v) => {
    const good = input(v)
    const body = Buffer.from(good.body)
    const flipped = Buffer.from(body)
    flipped[10] = (flipped[10] ?? 0) ^ 1
    const otherCert = vectors.paypal.find((o) => o.certFile !== v.certFile)?.certFile ?? ''
    const variants = {
      // The .NET SDK's negative tests: body id, signature prefix and transmission id prefix altered.
      'body id WH- → XX-': { body: Buffer.from(body.toString('utf8').replace('"id":"WH-', '"id":"XX-')) },
      'signature prefix → XXX': { signature: `XXX${good.signature.slice(3)}` },
      'transmission id prefix → XXX': { transmissionId: `XXX${good.transmissionId.slice(3)}` },
      'one body bit flipped': { body: flipped },
      'trailing newline added': { body: Buffer.concat([body, Buffer.from('\n')]) },
      'other webhook id': { webhookId: 'WEBHOOK_ID' },
      'transmission time reformatted': { transmissionTime: good.transmissionTime.replace('Z', '.000Z') },
      'another certificate': { certificate: fixtureText(`vectors/${otherCert}`) },
      'another vector signature': {
        signature: vectors.paypal.find((o) => o !== v)?.headers['paypal-transmission-sig'] ?? '',
      },
      'empty signature': { signature: '' },
      'not a certificate': { certificate: 'garbage' },
    }
    for (const [name, change] of Object.entries(variants)) {
      expect({ name, ok: verifyPaypalSignature({ ...good, ...change }) }).toEqual({ name, ok: false })
    }
  })

  it('a fault in building the signed message is thrown (answered 5xx, retried), not taken for a mismatch (400)', () => {
    const v = vectors.paypal[0] as PaypalVector
    const broken = { ...input(v), body: null as unknown as Uint8Array }
    expect(() => verifyPaypalSignature(broken)).toThrow(TypeError)
  })

  it('SHA1withRSA with the valid signature is refused before any verification', () => {
    const v = vectors.paypal[1] as PaypalVector
    expect(() =>
      readPaypalTransmission(new Headers({ ...v.headers, 'paypal-auth-algo': 'SHA1withRSA' })),
    ).toThrow(/PAYPAL-AUTH-ALGO/)
  })

  it('fixture integrity: both real leaf certificates were issued by the DigiCert intermediate PayPal pinned', () => {
    const anchor = new X509Certificate(fixtureText(`vectors/${vectors.paypal_trust_anchor.file}`))
    for (const file of new Set(vectors.paypal.map((v) => v.certFile))) {
      const leaf = new X509Certificate(fixtureText(`vectors/${file}`))
      expect(leaf.checkIssued(anchor)).toBe(true)
      expect(leaf.verify(anchor.publicKey)).toBe(true)
    }
  })
})

describe('PayPal vectors: end to end through provider.verify', () => {
  let host: CountingServer
  const certPath = (v: PaypalVector) =>
    `/v1/notifications/certs/${v.certFile.replace(/^paypal\/|\.pem$/g, '')}`
  /** The real delivery with only its cert URL pointed at the loopback host. */
  const realDelivery = (v: PaypalVector, receivedAt = new Date()) =>
    delivery(bodyOf(v), { ...v.headers, 'paypal-cert-url': host.url(certPath(v)) }, receivedAt)
  const provider = (v: PaypalVector, now?: Date) =>
    createPaypalProvider({
      webhookIds: [v.webhookId],
      mode: 'offline',
      certHosts: [host.host],
      ca: pki.ca,
      ...(now ? { now: () => now } : {}),
    })

  beforeAll(async () => {
    host = await startCertHost((req, res) => {
      const v = vectors.paypal.find((candidate) => certPath(candidate) === req.url)
      if (!v) {
        res.writeHead(404).end()
        return
      }
      res.writeHead(200).end(certOf(v))
    })
  })
  afterAll(() => host.close())

  it.each(cases)('%s verifies with a clock inside the certificate window', async (_, v) => {
    const events = await provider(v, clockOf(v)).verify(realDelivery(v))
    const body = JSON.parse(bodyOf(v).toString('utf8'))
    expect(events).toEqual([
      {
        provider: 'paypal',
        id: body.id,
        type: body.event_type,
        payload: body,
        payloadJson: bodyOf(v).toString('utf8'),
        occurredAt: new Date(body.create_time),
        transmission: {
          id: v.headers['paypal-transmission-id'],
          bodySha256: createHash('sha256').update(bodyOf(v)).digest('hex'),
          signedAt: clockOf(v),
        },
      },
    ])
  })

  it.each(cases)(
    '%s also verifies when the delivery time (receivedAt) is inside the window',
    async (_, v) => {
      expect(await provider(v).verify(realDelivery(v, clockOf(v)))).toHaveLength(1)
    },
  )

  it.each(cases)('%s is refused with the real clock: the certificate has expired (400)', async (_, v) => {
    const error = await expectAppError(
      provider(v).verify(realDelivery(v)),
      'invalid_signature',
      'cert_expired',
    )
    expect(error.status).toBe(400)
  })

  it.each(cases)('%s is refused under another webhook id, or with SHA1withRSA', async (_, v) => {
    const other = createPaypalProvider({
      webhookIds: ['WEBHOOK_ID'],
      mode: 'offline',
      certHosts: [host.host],
      ca: pki.ca,
      now: () => clockOf(v),
    })
    await expectAppError(other.verify(realDelivery(v)), 'invalid_signature', 'bad_signature')
    const sha1 = delivery(bodyOf(v), {
      ...v.headers,
      'paypal-cert-url': host.url(certPath(v)),
      'paypal-auth-algo': 'SHA1withRSA',
    })
    await expectAppError(provider(v, clockOf(v)).verify(sha1), 'invalid_signature', 'unsupported_auth_algo')
  })
})
