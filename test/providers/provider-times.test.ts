/**
 * A provider's event time written without a zone is read as UTC, not in the server's zone, so every instance
 * stores the same time for the same event whatever its `TZ`. Node reads `process.env.TZ` afresh when it is
 * set, so the test runs 13 hours ahead of UTC.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAdyenProvider } from '../../src/providers/adyen.ts'
import { providerTime } from '../../src/providers/event-time.ts'
import { paypalEvent } from '../../src/providers/paypal/event.ts'
import { notification, randomHexKey, sampleItem, signedItem } from './adyen-fixtures.ts'
import { delivery } from './helpers.ts'

describe('provider event times', () => {
  const tz = process.env.TZ
  beforeAll(() => {
    process.env.TZ = 'Pacific/Auckland'
    // The premise: here, new Date reads a zone-less time as local.
    expect(new Date('2024-03-01T10:00:00').toISOString()).not.toBe('2024-03-01T10:00:00.000Z')
  })
  afterAll(() => {
    if (tz === undefined) delete process.env.TZ
    else process.env.TZ = tz
  })

  it('reads a time without a zone as UTC, and keeps a given zone', () => {
    expect(providerTime('2024-03-01T10:00:00')?.toISOString()).toBe('2024-03-01T10:00:00.000Z')
    expect(providerTime('2024-03-01T10:00')?.toISOString()).toBe('2024-03-01T10:00:00.000Z')
    expect(providerTime('2024-03-01 10:00:00.5')?.toISOString()).toBe('2024-03-01T10:00:00.500Z')
    expect(providerTime('2024-03-01T10:00:00+02:00')?.toISOString()).toBe('2024-03-01T08:00:00.000Z')
    expect(providerTime('2024-03-01T10:00:00.000Z')?.toISOString()).toBe('2024-03-01T10:00:00.000Z')
    // A date alone is UTC already.
    expect(providerTime('2024-03-01')?.toISOString()).toBe('2024-03-01T00:00:00.000Z')
    for (const bad of ['not a date', '', 42, null, undefined, '2024-13-45T99:00:00'])
      expect(providerTime(bad)).toBeUndefined()
  })

  it("Adyen's eventDate and PayPal's create_time without a zone become the same instant in any TZ", async () => {
    const hex = randomHexKey()
    const item = signedItem(sampleItem({ eventDate: '2024-05-06T17:15:34.121' }), hex)
    const [adyen] = await createAdyenProvider({ hmacKeys: [Buffer.from(hex, 'hex')] }).verify(
      delivery(notification([item])),
    )
    expect(adyen?.occurredAt?.toISOString()).toBe('2024-05-06T17:15:34.121Z')

    const body = { id: 'WH-1', event_type: 'PAYMENT.CAPTURE.COMPLETED', create_time: '2024-05-06T17:15:34' }
    expect(paypalEvent(body, JSON.stringify(body)).occurredAt?.toISOString()).toBe('2024-05-06T17:15:34.000Z')
  })
})
