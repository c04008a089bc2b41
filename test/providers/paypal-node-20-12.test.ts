/**
 * package.json accepts Node.js 20.12 and the README says "20.12 or newer", but `zlib.crc32` only exists from
 * Node 20.15 (22.2 on the 22 line). PayPal's signed message needs the CRC-32 of the body, so the service must
 * not depend on it. Here the real service process runs with `zlib.crc32` removed before any code loads, as
 * on Node 20.12-20.14 (where the named import does not even link, and `npm start` stops at start-up).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { paypalCrc32 } from '../../src/providers/paypal/index.ts'
import { spawnService } from '../support/spawn-service.ts'
import { tempDir } from '../support/temp-dir.ts'
import { pki, sampleEvent, servePem, signedDelivery, startCertHost, WEBHOOK_ID } from './paypal-fixtures.ts'

describe('PayPal on a Node.js without zlib.crc32 (20.12-20.14, which package.json accepts)', () => {
  const dir = tempDir('paypal-no-crc32')
  afterAll(() => dir.remove())

  it('computes the same CRC-32 as zlib on any bytes (where this Node has zlib.crc32)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        expect(paypalCrc32(bytes)).toBe(crc32(bytes))
      }),
      { numRuns: 500 },
    )
  })

  it('verifies a genuine delivery', async () => {
    const certHost = await startCertHost(servePem(pki.signingCert))
    const caFile = join(dir.path, 'ca.pem')
    writeFileSync(caFile, pki.ca)
    const preload = join(dir.path, 'no-zlib-crc32.cjs')
    writeFileSync(preload, "delete require('node:zlib').crc32\n")
    mkdirSync(join(dir.path, 'handlers'))
    const svc = await spawnService({
      DATABASE_URL: join(dir.path, 'db.sqlite'),
      HANDLERS_DIR: join(dir.path, 'handlers'),
      PAYPAL_WEBHOOK_ID: WEBHOOK_ID,
      PAYPAL_CERT_HOSTS: certHost.host,
      NODE_EXTRA_CA_CERTS: caFile,
      NODE_OPTIONS: `--require ${preload}`,
    })
    try {
      const d = signedDelivery({ body: sampleEvent(`WH-${Date.now()}-NOCRC`), certUrl: certHost.url() })
      const res = await fetch(`${svc.url}/webhooks/paypal`, {
        method: 'POST',
        body: Buffer.from(d.body),
        headers: d.headers,
      })
      expect({ status: res.status, body: await res.json() }).toEqual({
        status: 200,
        body: { received: true, duplicate: false, status: 'ignored' },
      })
    } finally {
      svc.proc.kill('SIGTERM')
      await svc.exited
      await certHost.close()
    }
  })
})
