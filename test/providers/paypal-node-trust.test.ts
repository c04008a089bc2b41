/**
 * The production path of PayPal certificate downloads: no CA injected, Node's own TLS trust, extended with
 * NODE_EXTRA_CA_CERTS exactly as an operator (or this test) would. Runs the real service process.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { tempDir } from '../support/temp-dir.ts'
import { deliverToServiceProcess } from './paypal-fixtures.ts'

describe('PayPal certificate trust in the real process', () => {
  const dir = tempDir('paypal-proc')
  afterAll(() => dir.remove())

  it('verifies a delivery whose certificate host is trusted through NODE_EXTRA_CA_CERTS', async () => {
    expect(await deliverToServiceProcess(dir.path)).toEqual({
      status: 200,
      body: { received: true, duplicate: false, status: 'ignored' },
    })
  })
})
