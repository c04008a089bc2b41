/** Builders for Adyen classic notifications, signed with the official @adyen/api-library. */
import { randomBytes } from 'node:crypto'
import { hmacValidator } from '@adyen/api-library'

type Item = Record<string, unknown>

const validator = new hmacValidator()

/**
 * Signs with Adyen's own library. Only for items holding an `amount` object: the library picks its legacy
 * HPP algorithm when every value of the object is a string (see adyen-vectors.test.ts).
 */
export function signWithAdyenLibrary(item: Item, hexKey: string): string {
  return validator.calculateHmac(item as unknown as Parameters<typeof validator.calculateHmac>[0], hexKey)
}

export const randomHexKey = (): string => randomBytes(32).toString('hex').toUpperCase()

let counter = 0
export function sampleItem(overrides: Item = {}): Item {
  counter += 1
  return {
    amount: { value: 1130 + counter, currency: 'EUR' },
    eventCode: 'AUTHORISATION',
    eventDate: '2024-05-06T17:15:34.121+02:00',
    merchantAccountCode: 'TestMerchant',
    merchantReference: `order-${counter}`,
    paymentMethod: 'visa',
    pspReference: `79140733813${String(counter).padStart(5, '0')}`,
    reason: '',
    success: 'true',
    operations: ['CANCEL', 'CAPTURE', 'REFUND'],
    ...overrides,
  }
}

/** The item with `additionalData.hmacSignature` set by the official library under `hexKey`. */
export function signedItem(item: Item, hexKey: string): Item {
  const additionalData = { ...((item.additionalData as Item | undefined) ?? {}) }
  const signed = { ...item, additionalData }
  additionalData.hmacSignature = signWithAdyenLibrary(signed, hexKey)
  return signed
}

export const notification = (items: Item[], live = 'false'): string =>
  JSON.stringify({
    live,
    notificationItems: items.map((NotificationRequestItem) => ({ NotificationRequestItem })),
  })
