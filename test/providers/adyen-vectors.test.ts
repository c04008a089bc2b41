/** Every published Adyen vector verifies with our code, and altered variants do not. */
import { describe, expect, it } from 'vitest'
import {
  adyenHmac,
  adyenItemSignature,
  adyenSigningString,
  createAdyenProvider,
} from '../../src/providers/adyen.ts'
import { signWithAdyenLibrary } from './adyen-fixtures.ts'
import { delivery, expectAppError, fixtureBytes } from './helpers.ts'
import { vectors } from './vectors.ts'

const key = (hex: string) => Buffer.from(hex, 'hex')
const withSignature = (item: Record<string, unknown>, hmacSignature: string) => ({
  ...item,
  additionalData: { hmacSignature },
})
const body = (item: Record<string, unknown>) =>
  JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: item }] })

describe('Adyen item vectors (official SDK test suites)', () => {
  it.each(vectors.adyen_item.map((v, i) => [i, v] as const))(
    'vector %i: signing string and HMAC match',
    (_, v) => {
      expect(adyenSigningString(v.item)).toBe(v.signingString)
      expect(adyenItemSignature(v.item, key(v.key))).toBe(v.hmacSignature)
    },
  )

  it.each(vectors.adyen_item.map((v, i) => [i, v] as const))(
    'vector %i: verifies end to end and yields one event',
    async (_, v) => {
      const provider = createAdyenProvider({ hmacKeys: [key(v.key)] })
      const events = await provider.verify(delivery(body(withSignature(v.item, v.hmacSignature))))
      expect(events).toHaveLength(1)
      expect(events[0]?.type).toBe(v.item.eventCode)
      expect(events[0]?.payload).toMatchObject(v.item)
    },
  )

  it.each(vectors.adyen_item.map((v, i) => [i, v] as const))(
    'vector %i: each signed field altered, a wrong key, or another signature is rejected',
    async (_, v) => {
      const provider = createAdyenProvider({ hmacKeys: [key(v.key)] })
      const variants: Record<string, unknown>[] = [
        { ...v.item, pspReference: `${String(v.item.pspReference)}0` },
        { ...v.item, originalReference: 'X' },
        { ...v.item, merchantAccountCode: 'Other' },
        { ...v.item, merchantReference: `${String(v.item.merchantReference)} ` },
        { ...v.item, amount: { ...(v.item.amount as object), value: 1 } },
        { ...v.item, amount: { ...(v.item.amount as object), currency: 'USD' } },
        { ...v.item, eventCode: 'REFUND_FAILED' },
        { ...v.item, success: 'false' },
      ]
      for (const variant of variants) {
        await expectAppError(
          provider.verify(delivery(body(withSignature(variant, v.hmacSignature)))),
          'invalid_signature',
          'bad_signature',
        )
      }
      const otherKey = createAdyenProvider({ hmacKeys: [Buffer.alloc(32, 7)] })
      await expectAppError(
        otherKey.verify(delivery(body(withSignature(v.item, v.hmacSignature)))),
        'invalid_signature',
        'bad_signature',
      )
      const another = vectors.adyen_item.find((o) => o.hmacSignature !== v.hmacSignature)?.hmacSignature ?? ''
      await expectAppError(
        provider.verify(delivery(body(withSignature(v.item, another)))),
        'invalid_signature',
        'bad_signature',
      )
    },
  )

  it('agrees with @adyen/api-library on every vector item (all have an amount object)', () => {
    for (const v of vectors.adyen_item) {
      expect(signWithAdyenLibrary(v.item, v.key)).toBe(v.hmacSignature)
    }
  })

  it('does not fall into the library trap: an item of only strings still uses the webhook algorithm', () => {
    // Java's HMACValidatorTest.testValidateHMACMissingOptionalField: a missing amount gives empty fields.
    const item = {
      pspReference: 'test_REPORT_AVAILABLE',
      merchantAccountCode: 'Magento2Rik',
      merchantReference: 'testMerchantRef1',
      eventCode: 'REPORT_AVAILABLE',
      success: 'true',
    }
    expect(adyenSigningString(item)).toBe(
      'test_REPORT_AVAILABLE::Magento2Rik:testMerchantRef1:::REPORT_AVAILABLE:true',
    )
    const hex = vectors.adyen_item[0]?.key ?? ''
    // The library escapes and sorts keys (its legacy HPP path) for such an object, so it disagrees with us.
    expect(signWithAdyenLibrary(item, hex)).not.toBe(adyenItemSignature(item, key(hex)))
  })
})

describe('Adyen HMAC primitive on the string and raw-body vectors', () => {
  it.each(vectors.adyen_string.map((v, i) => [i, v] as const))('string vector %i', (_, v) => {
    expect(adyenHmac(v.data, key(v.key))).toBe(v.hmac)
    expect(adyenHmac(`${v.data} `, key(v.key))).not.toBe(v.hmac)
  })

  it.each(vectors.adyen_raw_body.map((v, i) => [i, v] as const))(
    'raw-body vector %i (exact bytes)',
    (_, v) => {
      const bytes = v.bodyFile ? fixtureBytes(`vectors/${v.bodyFile}`) : Buffer.from(v.body ?? '', 'utf8')
      expect(adyenHmac(bytes, key(v.key))).toBe(v.HmacSignature)
      expect(adyenHmac(Buffer.concat([bytes, Buffer.from('\n')]), key(v.key))).not.toBe(v.HmacSignature)
    },
  )
})
