/**
 * Pre-signed Adyen classic notifications, 10 NotificationRequestItems per request, each item carrying its
 * own HMAC exactly as Adyen computes it: HMAC-SHA256 (hex-decoded key, base64) over
 * pspReference:originalReference:merchantAccountCode:merchantReference:value:currency:eventCode:success.
 * The first item is cross-checked against Adyen's own library so a signing mistake cannot turn the
 * scenario into a benchmark of 400s.
 */
import { createHmac, randomBytes } from 'node:crypto'
import { hmacValidator } from '@adyen/api-library'
import { type PreparedRequest, runTag } from './stripe-requests.ts'

export const BENCH_ADYEN_KEY = randomBytes(32).toString('hex').toUpperCase()
export const ADYEN_PATH = '/webhooks/adyen'
export const ADYEN_ITEMS_PER_REQUEST = 10

type Item = Record<string, unknown> & { amount: { value: number; currency: string } }

function signingString(item: Item): string {
  return [
    item.pspReference,
    item.originalReference ?? '',
    item.merchantAccountCode,
    item.merchantReference,
    item.amount.value,
    item.amount.currency,
    item.eventCode,
    item.success,
  ].join(':')
}

export function adyenItemHmac(item: Item, hexKey = BENCH_ADYEN_KEY): string {
  return createHmac('sha256', Buffer.from(hexKey, 'hex')).update(signingString(item), 'utf8').digest('base64')
}

function item(tag: string, n: number): Item {
  const psp = `${tag}${n.toString().padStart(10, '0')}`
  return {
    amount: { value: 1000 + (n % 5000), currency: 'EUR' },
    eventCode: 'AUTHORISATION',
    eventDate: '2024-05-06T17:15:34+02:00',
    merchantAccountCode: 'BenchMerchant',
    merchantReference: `order-${n}`,
    paymentMethod: 'visa',
    pspReference: psp,
    reason: '',
    success: 'true',
    operations: ['CANCEL', 'CAPTURE', 'REFUND'],
  }
}

/** `count` requests, each with 10 distinct signed items (so `count * 10` events). */
export function adyenRequests(count: number): PreparedRequest[] {
  // pspReference is 16 characters in production; a run tag keeps runs apart.
  const tag = runTag().toUpperCase()
  const requests: PreparedRequest[] = new Array(count)
  let n = 0
  for (let r = 0; r < count; r++) {
    const items = []
    for (let i = 0; i < ADYEN_ITEMS_PER_REQUEST; i++) {
      const it = item(tag, n++)
      items.push({ NotificationRequestItem: { ...it, additionalData: { hmacSignature: adyenItemHmac(it) } } })
    }
    requests[r] = {
      method: 'POST',
      path: ADYEN_PATH,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ live: 'false', notificationItems: items }),
    }
  }
  assertAdyenAgrees()
  return requests
}

function assertAdyenAgrees() {
  const sample = item('CHECK', 1)
  const theirs = new hmacValidator().calculateHmac(
    sample as unknown as Parameters<hmacValidator['calculateHmac']>[0],
    BENCH_ADYEN_KEY,
  )
  if (theirs !== adyenItemHmac(sample))
    throw new Error('bench Adyen signing disagrees with @adyen/api-library')
}
