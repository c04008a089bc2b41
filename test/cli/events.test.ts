import { describe, expect, it } from 'vitest'
import {
  eventFromFixture,
  freshPaypalId,
  freshPspReference,
  freshStripeId,
  sameShape,
} from '../../src/cli/events.ts'
import { fixtureTypes, readFixture } from '../../src/cli/fixtures.ts'
import { signNotification } from '../../src/cli/sign-adyen.ts'
import { adyenItemSignature } from '../../src/providers/adyen.ts'
import { randomHexKey, signWithAdyenLibrary } from '../providers/adyen-fixtures.ts'

describe('fresh ids keep the provider’s shape', () => {
  it('sameShape swaps digits for digits and letters for letters of the same case', () => {
    const out = sameShape('aB3-x_9Z')
    expect(out).toMatch(/^[a-z][A-Z][0-9]-[a-z]_[0-9][A-Z]$/)
  })

  it('Stripe: keeps the prefix up to the last underscore', () => {
    expect(freshStripeId('evt_1PqRLpLkdIwHu7ixKs0Dv3Wg')).toMatch(/^evt_[A-Za-z0-9]{24}$/)
    expect(freshStripeId('cs_test_a1Kq7Zp3')).toMatch(/^cs_test_[A-Za-z0-9]{8}$/)
  })

  it('PayPal: keeps WH-, I- and PP-D- prefixes', () => {
    expect(freshPaypalId('WH-7KX31824MN092651D-3RW96173LB4482146')).toMatch(/^WH-[0-9A-Z]{17}-[0-9A-Z]{17}$/)
    expect(freshPaypalId('I-7WJ3K5XQ2NBD')).toMatch(/^I-[0-9A-Z]{12}$/)
    expect(freshPaypalId('PP-D-48213')).toMatch(/^PP-D-\d{5}$/)
  })

  it('Adyen: 16 characters for payments, a new batch number for reports', () => {
    expect(freshPspReference('QFQTPCQ8HXSKGK82')).toMatch(/^[A-Z0-9]{16}$/)
    expect(freshPspReference('settlement_detail_report_batch_241.csv')).toMatch(
      /^settlement_detail_report_batch_\d{3}\.csv$/,
    )
  })
})

describe('built-in events', () => {
  const now = new Date('2025-03-04T05:06:07.890Z')

  it('every fixture file is a well-formed event of its own type', () => {
    for (const type of fixtureTypes('stripe')) {
      expect(readFixture('stripe', type)).toMatchObject({ object: 'event', type, livemode: false })
    }
    for (const type of fixtureTypes('paypal')) {
      expect(readFixture('paypal', type)).toMatchObject({ event_type: type, event_version: '1.0' })
    }
    for (const type of fixtureTypes('adyen')) {
      const fixture = readFixture('adyen', type) as { live: string; notificationItems: unknown[] }
      expect(fixture.live).toBe('false')
      expect(fixture.notificationItems).toEqual([
        { NotificationRequestItem: expect.objectContaining({ eventCode: type, success: 'true' }) },
      ])
    }
  })

  it('Stripe: new event id and created; the object gets a new id wherever it is referenced', () => {
    const original = readFixture('stripe', 'charge.refunded') as {
      id: string
      data: { object: { id: string; refunds: { url: string } } }
    }
    const event = eventFromFixture('stripe', 'charge.refunded', now)
    const payload = event.payload as typeof original & { created: number }
    expect(payload.id).not.toBe(original.id)
    expect(event.id).toBe(payload.id)
    expect(payload.created).toBe(Math.floor(now.getTime() / 1000))
    expect(payload.data.object.id).toMatch(/^ch_/)
    expect(payload.data.object.id).not.toBe(original.data.object.id)
    expect(payload.data.object.refunds.url).toBe(`/v1/charges/${payload.data.object.id}/refunds`)
    expect(JSON.stringify(payload)).not.toContain(original.data.object.id)
  })

  it('PayPal: new WH- id and create_time; the resource gets a new id', () => {
    const event = eventFromFixture('paypal', 'CUSTOMER.DISPUTE.CREATED', now)
    const payload = event.payload as { id: string; create_time: string; resource: { dispute_id: string } }
    expect(payload.create_time).toBe(now.toISOString())
    expect(payload.resource.dispute_id).toMatch(/^PP-D-\d{5}$/)
    expect(JSON.stringify(payload)).not.toContain('WH-9RA61730JK445218U-2GF85096TE7730451')
  })

  it('Adyen: new pspReference and eventDate; the original payment reference stays', () => {
    const event = eventFromFixture('adyen', 'REFUND', now)
    const item = (
      event.payload.notificationItems as { NotificationRequestItem: Record<string, unknown> }[]
    )[0]?.NotificationRequestItem
    expect(item?.pspReference).toBe(event.id)
    expect(item?.pspReference).not.toBe('HX4ZP7KN2WLRQT58')
    expect(item?.originalReference).toBe('QFQTPCQ8HXSKGK82')
    expect(item?.eventDate).toBe('2025-03-04T05:06:07+00:00')
  })

  it('Adyen signatures equal those of Adyen’s own library', () => {
    const key = randomHexKey()
    for (const type of fixtureTypes('adyen')) {
      const signed = signNotification(readFixture('adyen', type), Buffer.from(key, 'hex'))
      const item = (signed.notificationItems as { NotificationRequestItem: Record<string, unknown> }[])[0]
        ?.NotificationRequestItem as Record<string, unknown>
      const signature = (item.additionalData as { hmacSignature: string }).hmacSignature
      expect(signature).toBe(adyenItemSignature(item, Buffer.from(key, 'hex')))
      expect(signature).toBe(signWithAdyenLibrary(item, key))
    }
  })
})
