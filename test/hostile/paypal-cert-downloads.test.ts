/**
 * PAYPAL-CERT-URL comes from an unauthenticated request, and a well-formed URL on an allowed host is fetched
 * before any signature can be checked. What such requests can make the service hold: connections to the
 * certificate host (bounded at MAX_CERT_DOWNLOADS at once), and rows of the certificate store.
 */
import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { MAX_STORED_CERTS } from '../../src/db/paypal-cert-store.ts'
import { MAX_CERT_DOWNLOADS } from '../../src/providers/paypal/cert-source.ts'
import {
  type CountingServer,
  type Handler,
  pki,
  sampleEvent,
  servePem,
  startCertHost,
  WEBHOOK_ID,
} from '../providers/paypal-fixtures.ts'
import { startTestService, type TestService } from '../support/test-service.ts'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function setup(handler: Handler): Promise<{ svc: TestService; certHost: CountingServer }> {
  const certHost = await startCertHost(handler)
  cleanups.push(() => certHost.close())
  const svc = await startTestService({
    env: { PAYPAL_WEBHOOK_ID: WEBHOOK_ID, PAYPAL_CERT_HOSTS: certHost.host, LOG_LEVEL: 'error' },
    paypal: { ca: pki.ca },
  })
  cleanups.push(() => svc.dispose())
  return { svc, certHost }
}

/** A delivery nobody signed, naming the certificate `name` on the cert host. */
async function forged(svc: TestService, certHost: CountingServer, name: string): Promise<number> {
  const res = await fetch(`${svc.url}/webhooks/paypal`, {
    method: 'POST',
    body: sampleEvent(`WH-${name}`),
    headers: {
      'content-type': 'application/json',
      'paypal-transmission-id': randomUUID(),
      'paypal-transmission-time': new Date().toISOString(),
      'paypal-transmission-sig': Buffer.from('not a signature').toString('base64'),
      'paypal-cert-url': certHost.url(`/v1/notifications/certs/CERT-${name}`),
      'paypal-auth-algo': 'SHA256withRSA',
    },
  })
  await res.arrayBuffer()
  return res.status
}

async function waitUntil(what: string, condition: () => boolean) {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  expect(condition(), what).toBe(true)
}

describe('PayPal certificate URLs from unsigned requests', () => {
  it(`open at most ${MAX_CERT_DOWNLOADS} downloads at once; the others are answered 503 without a connection`, async () => {
    // A certificate host that never answers: every download holds its connection until its deadline.
    const { svc, certHost } = await setup(() => {})
    const sent = 40
    const answers: number[] = []
    const deliveries = Array.from({ length: sent }, (_, i) =>
      forged(svc, certHost, `held-${i}`).then((status) => answers.push(status)),
    )
    // Every delivery either has its answer or holds a connection to the certificate host.
    await waitUntil(
      'every delivery answered or downloading',
      () => answers.length + certHost.connections >= sent,
    )
    expect(certHost.connections).toBeLessThanOrEqual(MAX_CERT_DOWNLOADS)
    expect(answers.every((status) => status === 503)).toBe(true)
    await certHost.close()
    await Promise.all(deliveries)
    expect(answers).toHaveLength(sent)
    expect(answers.every((status) => status === 503)).toBe(true)
  })
  it(`keep at most ${MAX_STORED_CERTS} certificates in the database, however many URLs serve one`, async () => {
    // A host that serves the genuine certificate under any name: every URL is a new certificate to store.
    const { svc, certHost } = await setup(servePem(pki.signingCert))
    const names = Array.from({ length: MAX_STORED_CERTS + 20 }, (_, i) => `any-${i}`)
    for (const name of names) expect(await forged(svc, certHost, name)).toBe(400)
    expect(certHost.requests).toHaveLength(names.length)
    // Certificates are stored with the next write transaction; a retention pass is one.
    await svc.prune()
    const stored = svc.query<{ url: string }>('SELECT url FROM hookinbox_paypal_certs')
    expect(stored).toHaveLength(MAX_STORED_CERTS)
  })
})
