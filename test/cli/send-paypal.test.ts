/**
 * PayPal deliveries can only be signed with the development key pair, which the service trusts in
 * development mode only. Here the signature is checked offline against the public key with the service's
 * own verifier, and the whole send runs against a loopback receiver that verifies every request.
 */
import { writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { eventFromFixture } from '../../src/cli/events.ts'
import { fixtureTypes } from '../../src/cli/fixtures.ts'
import { paypalSigner } from '../../src/cli/sign-paypal.ts'
import { DEV_PAYPAL_CERT_URL, type DevSecrets } from '../../src/dev/dev-secrets.ts'
import {
  paypalCrc32,
  paypalSignedMessage,
  readPaypalTransmission,
  verifyPaypalSignature,
} from '../../src/providers/paypal/index.ts'
import { startTestService } from '../support/test-service.ts'
import { devSecretValues, type JsonReport, run, scratchCwd, writeDevSecrets } from './cli-helpers.ts'

interface Received {
  headers: Headers
  body: string
  valid: boolean
  eventId: string
}

describe('hookinbox send paypal', () => {
  const cwd = scratchCwd()
  let dev: DevSecrets
  let receiver: Server
  let receiverUrl: string
  let received: Received[] = []
  /** The webhook id the loopback receiver verifies with (as the service would use its configured one). */
  let expectedWebhookId = ''

  beforeAll(async () => {
    dev = writeDevSecrets(cwd.path)
    expectedWebhookId = dev.paypal.webhookId
    const seen = new Set<string>()
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks)
        const headers = new Headers(req.headers as Record<string, string>)
        const t = readPaypalTransmission(headers)
        const valid = verifyPaypalSignature({
          transmissionId: t.transmissionId,
          transmissionTime: t.transmissionTime,
          webhookId: expectedWebhookId,
          body,
          signature: t.transmissionSig,
          certificate: dev.paypal.publicKeyPem,
        })
        const eventId = String(JSON.parse(body.toString('utf8')).id)
        received.push({ headers, body: body.toString('utf8'), valid, eventId })
        if (!valid) {
          res.writeHead(400, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: 'PayPal signature mismatch' }))
          return
        }
        const duplicate = seen.has(eventId)
        seen.add(eventId)
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ received: true, duplicate, status: 'ignored' }))
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    await new Promise<void>((resolve) => receiver.close(() => resolve()))
    cwd.remove()
  })

  it('has the built-in events the brief lists', () => {
    expect(fixtureTypes('paypal')).toEqual(
      expect.arrayContaining([
        'PAYMENT.CAPTURE.COMPLETED',
        'PAYMENT.CAPTURE.DENIED',
        'PAYMENT.CAPTURE.REFUNDED',
        'CUSTOMER.DISPUTE.CREATED',
        'BILLING.SUBSCRIPTION.CREATED',
        'BILLING.SUBSCRIPTION.ACTIVATED',
        'BILLING.SUBSCRIPTION.CANCELLED',
        'BILLING.SUBSCRIPTION.PAYMENT.FAILED',
        'PAYMENT.SALE.COMPLETED',
        'CHECKOUT.ORDER.APPROVED',
      ]),
    )
  })

  it.each(fixtureTypes('paypal'))('signs %s so the public key verifies it, with all five headers', (type) => {
    const now = new Date()
    const event = eventFromFixture('paypal', type, now)
    const key = { ...dev.paypal }
    const { body, headers } = paypalSigner(event, key)(now)
    const transmission = readPaypalTransmission(new Headers(headers))
    expect(transmission.certUrl).toBe(DEV_PAYPAL_CERT_URL)
    expect(transmission.authAlgo).toBe('SHA256withRSA')
    expect(transmission.transmissionId).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    )
    expect(transmission.transmissionTime).toBe(now.toISOString().replace(/\.\d{3}Z$/, 'Z'))

    const bytes = Buffer.from(body, 'utf8')
    const input = {
      transmissionId: transmission.transmissionId,
      transmissionTime: transmission.transmissionTime,
      webhookId: dev.paypal.webhookId,
      body: bytes,
      signature: transmission.transmissionSig,
      certificate: dev.paypal.publicKeyPem,
    }
    expect(verifyPaypalSignature(input)).toBe(true)
    expect(paypalSignedMessage(input)).toBe(
      `${transmission.transmissionId}|${transmission.transmissionTime}|${dev.paypal.webhookId}|${paypalCrc32(bytes)}`,
    )
    expect(verifyPaypalSignature({ ...input, webhookId: 'SOMEOTHERWEBHOOK' })).toBe(false)
    expect(
      verifyPaypalSignature({ ...input, body: Buffer.from(body.replace(event.id, 'WH-TAMPERED')) }),
    ).toBe(false)

    const parsed = JSON.parse(body)
    expect(parsed).toMatchObject({ id: event.id, event_type: type })
    expect(parsed.id).toMatch(/^WH-[0-9A-Z]{17}-[0-9A-Z]{17}$/)
    expect(Date.parse(parsed.create_time)).toBe(now.getTime())
    // The event's own links follow its new id.
    for (const link of parsed.links as { href: string }[]) expect(link.href).toContain(parsed.id)
  })

  it('--repeat 3: one event id, three transmissions, each freshly and validly signed', async () => {
    received = []
    const result = await run(
      ['paypal', 'PAYMENT.CAPTURE.REFUNDED', '--url', receiverUrl, '--repeat', '3', '--json'],
      {
        cwd: cwd.path,
        secrets: devSecretValues(dev),
      },
    )
    expect(result.code).toBe(0)
    const report = result.json<JsonReport>()
    expect(report.signedWith).toBe('the development key and webhook id in ./data/dev-secrets.json')
    expect(report.summary).toMatchObject({ deliveries: 3, recorded: { ignored: 1 }, duplicates: 2 })
    expect(received).toHaveLength(3)
    expect(received.every((r) => r.valid)).toBe(true)
    expect(new Set(received.map((r) => r.eventId))).toEqual(new Set([report.eventId]))
    expect(new Set(received.map((r) => r.headers.get('paypal-transmission-id'))).size).toBe(3)
    expect(new Set(received.map((r) => r.headers.get('paypal-transmission-sig'))).size).toBe(3)
  })

  it('signs with PAYPAL_WEBHOOK_ID when it is set, as the service would verify', async () => {
    received = []
    expectedWebhookId = 'ENVWEBHOOKID42'
    try {
      const result = await run(['paypal', 'payment.sale.completed', '--url', receiverUrl], {
        env: { PAYPAL_WEBHOOK_ID: 'ENVWEBHOOKID42' },
        cwd: cwd.path,
        secrets: devSecretValues(dev),
      })
      expect(result.code).toBe(0)
      expect(result.stdout).toContain(
        'signed with the development key in ./data/dev-secrets.json and PAYPAL_WEBHOOK_ID from the environment',
      )
      expect(received.map((r) => r.valid)).toEqual([true])
    } finally {
      expectedWebhookId = dev.paypal.webhookId
    }
  })

  it('signs with the first id when PAYPAL_WEBHOOK_ID lists several, and a development service accepts it', async () => {
    const env = { PAYPAL_WEBHOOK_ID: ' ENVWEBHOOKID42 , SECONDWEBHOOK77' }
    received = []
    expectedWebhookId = 'ENVWEBHOOKID42'
    try {
      const result = await run(['paypal', 'payment.sale.completed', '--url', receiverUrl], {
        env,
        cwd: cwd.path,
        secrets: devSecretValues(dev),
      })
      expect(result.code).toBe(0)
      expect(received.map((r) => r.valid)).toEqual([true])
    } finally {
      expectedWebhookId = dev.paypal.webhookId
    }
    // The same list configured in a service in development mode (trusting the development key).
    const service = await startTestService({
      env,
      dev: { paypalKey: { certUrl: dev.paypal.certUrl, publicKeyPem: dev.paypal.publicKeyPem } },
    })
    try {
      const result = await run(['paypal', 'CHECKOUT.ORDER.APPROVED', '--url', service.url], {
        env,
        cwd: cwd.path,
        secrets: devSecretValues(dev),
      })
      expect(result.code).toBe(0)
      expect(result.stdout).toMatch(/#1 +200/)
    } finally {
      await service.dispose()
    }
  })

  it('--file sends the user’s PayPal event byte for byte', async () => {
    received = []
    const path = join(cwd.path, 'paypal-event.json')
    const text =
      '{"id":"WH-MYOWN","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"X"},"amount":1.0}'
    writeFileSync(path, text)
    const result = await run(['paypal', '--file', path, '--url', receiverUrl], {
      cwd: cwd.path,
      secrets: devSecretValues(dev),
    })
    expect(result.code).toBe(0)
    expect(received[0]?.body).toBe(text)
  })

  it('without dev secrets: exit 1, says only the dev key can sign and to run npm run dev', async () => {
    const empty = scratchCwd()
    try {
      const result = await run(['paypal', 'CHECKOUT.ORDER.APPROVED', '--url', receiverUrl], {
        cwd: empty.path,
      })
      expect(result.code).toBe(1)
      expect(result.stderr).toContain("PayPal deliveries can only be signed with hookinbox's development key")
      expect(result.stderr).toContain('run `npm run dev` once')
    } finally {
      empty.remove()
    }
  })

  it('to a service without PayPal: exit 1, 404, start it with npm run dev', async () => {
    const bare = await startTestService()
    try {
      const result = await run(['paypal', 'CHECKOUT.ORDER.APPROVED', '--url', bare.url], {
        cwd: cwd.path,
        secrets: devSecretValues(dev),
      })
      expect(result.code).toBe(1)
      expect(result.stderr).toContain(
        'hint: the service does not accept PayPal deliveries: start it with `npm run dev`',
      )
    } finally {
      await bare.dispose()
    }
  })

  it('to a service verifying real PayPal deliveries: exit 1, 400, it is not in development mode', async () => {
    const production = await startTestService({ env: { PAYPAL_WEBHOOK_ID: 'LIVEWEBHOOK123' } })
    try {
      const result = await run(['paypal', 'CHECKOUT.ORDER.APPROVED', '--url', production.url], {
        cwd: cwd.path,
        secrets: devSecretValues(dev),
      })
      expect(result.code).toBe(1)
      expect(result.stdout).toMatch(/#1 +400/)
      expect(result.stderr).toContain(
        'hint: the service refused the development certificate URL, so it is not running in development mode',
      )
    } finally {
      await production.dispose()
    }
  })
})
