/**
 * The production path of PayPal certificate downloads: no CA injected, Node's own TLS trust, extended with
 * NODE_EXTRA_CA_CERTS exactly as an operator (or this test) would. Runs the real service process.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { spawnService } from '../support/spawn-service.ts'
import { tempDir } from '../support/temp-dir.ts'
import { pki, sampleEvent, servePem, signedDelivery, startCertHost, WEBHOOK_ID } from './paypal-fixtures.ts'

describe('PayPal certificate trust in the real process', () => {
  const dir = tempDir('paypal-proc')
  afterAll(() => dir.remove())

  it('verifies a delivery whose certificate host is trusted through NODE_EXTRA_CA_CERTS', async () => {
    const certHost = await startCertHost(servePem(pki.signingCert))
    const caFile = join(dir.path, 'ca.pem')
    writeFileSync(caFile, pki.ca)
    mkdirSync(join(dir.path, 'handlers'))
    const svc = await spawnService({
      DATABASE_URL: join(dir.path, 'db.sqlite'),
      HANDLERS_DIR: join(dir.path, 'handlers'),
      PAYPAL_WEBHOOK_ID: WEBHOOK_ID,
      PAYPAL_CERT_HOSTS: certHost.host,
      NODE_EXTRA_CA_CERTS: caFile,
    })
    try {
      const d = signedDelivery({ body: sampleEvent(`WH-${Date.now()}-N`), certUrl: certHost.url() })
      const res = await fetch(`${svc.url}/webhooks/paypal`, {
        method: 'POST',
        body: Buffer.from(d.body),
        headers: d.headers,
      })
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ received: true, duplicate: false, status: 'ignored' })
    } finally {
      svc.proc.kill('SIGTERM')
      await svc.exited
      await certHost.close()
    }
  })
})
