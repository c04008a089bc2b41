/**
 * package.json accepts Node.js 20.12 and the README says "20.12 or newer", but `zlib.crc32` only exists from
 * Node 20.15 (22.2 on the 22 line). PayPal's signed message needs the CRC-32 of the body, so the service must
 * not depend on it. Here the real service process runs with `zlib.crc32` removed before any code loads, as
 * on Node 20.12-20.14 (where the named import does not even link, and `npm start` stops at start-up).
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { paypalCrc32 } from '../../src/providers/paypal/index.ts'
import { tempDir } from '../support/temp-dir.ts'
import { deliverToServiceProcess } from './paypal-fixtures.ts'

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
    const preload = join(dir.path, 'no-zlib-crc32.cjs')
    writeFileSync(preload, "delete require('node:zlib').crc32\n")
    expect(await deliverToServiceProcess(dir.path, { NODE_OPTIONS: `--require ${preload}` })).toEqual({
      status: 200,
      body: { received: true, duplicate: false, status: 'ignored' },
    })
  })
})
