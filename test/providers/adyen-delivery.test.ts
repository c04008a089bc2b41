/**
 * Adyen deliveries signed by the official library with random keys: whole-request acceptance, key
 * rotation, event identity, and malformed bodies.
 */
import { describe, expect, it } from 'vitest'
import { createAdyenProvider } from '../../src/providers/adyen.ts'
import { notification, randomHexKey, sampleItem, signedItem } from './adyen-fixtures.ts'
import { delivery, expectAppError } from './helpers.ts'

const hexToKey = (hex: string) => Buffer.from(hex, 'hex')

describe('Adyen deliveries signed with @adyen/api-library', () => {
  it('verifies a single-item notification and answers [accepted]', async () => {
    const hex = randomHexKey()
    const item = signedItem(sampleItem(), hex)
    const provider = createAdyenProvider({ hmacKeys: [hexToKey(hex)] })
    expect(provider.name).toBe('adyen')
    expect(provider.acceptedBody).toBe('[accepted]')
    const events = await provider.verify(delivery(notification([item])))
    expect(events).toEqual([
      {
        provider: 'adyen',
        id: `TestMerchant:${item.pspReference}:AUTHORISATION:true:`,
        type: 'AUTHORISATION',
        payload: item,
        occurredAt: new Date('2024-05-06T17:15:34.121+02:00'),
      },
    ])
  })

  it('verifies every item of a batch and returns one event per item, in order', async () => {
    const hex = randomHexKey()
    const items = [
      signedItem(sampleItem(), hex),
      signedItem(sampleItem({ eventCode: 'CAPTURE', originalReference: '8814073381342284' }), hex),
      signedItem(sampleItem({ success: 'false', eventDate: 'not a date' }), hex),
    ]
    const events = await createAdyenProvider({ hmacKeys: [hexToKey(hex)] }).verify(
      delivery(notification(items)),
    )
    expect(events.map((e) => e.id)).toEqual([
      `TestMerchant:${items[0]?.pspReference}:AUTHORISATION:true:`,
      `TestMerchant:${items[1]?.pspReference}:CAPTURE:true:8814073381342284`,
      `TestMerchant:${items[2]?.pspReference}:AUTHORISATION:false:`,
    ])
    expect(events[2]?.occurredAt).toBeUndefined()
  })

  it('rejects the whole batch when one item of several has a bad signature', async () => {
    const hex = randomHexKey()
    const good = [signedItem(sampleItem(), hex), signedItem(sampleItem(), hex), signedItem(sampleItem(), hex)]
    const tampered = { ...good[1], merchantReference: 'changed' }
    const provider = createAdyenProvider({ hmacKeys: [hexToKey(hex)] })
    await expectAppError(
      provider.verify(delivery(notification([good[0] ?? {}, tampered, good[2] ?? {}]))),
      'invalid_signature',
      'bad_signature',
    )
  })

  it('rejects the whole batch when one item has no signature', async () => {
    const hex = randomHexKey()
    const unsigned = sampleItem()
    const provider = createAdyenProvider({ hmacKeys: [hexToKey(hex)] })
    for (const missing of [
      unsigned,
      { ...unsigned, additionalData: {} },
      { ...unsigned, additionalData: [] },
    ]) {
      await expectAppError(
        provider.verify(delivery(notification([signedItem(sampleItem(), hex), missing]))),
        'invalid_signature',
        'missing_signature',
      )
    }
  })

  it('accepts items signed with any key of the rotation list, and no other', async () => {
    const [oldHex, newHex, strangerHex] = [randomHexKey(), randomHexKey(), randomHexKey()]
    const provider = createAdyenProvider({ hmacKeys: [hexToKey(oldHex), hexToKey(newHex)] })
    const mixed = [signedItem(sampleItem(), oldHex), signedItem(sampleItem(), newHex)]
    expect(await provider.verify(delivery(notification(mixed)))).toHaveLength(2)
    await expectAppError(
      provider.verify(delivery(notification([signedItem(sampleItem(), strangerHex)]))),
      'invalid_signature',
      'bad_signature',
    )
  })

  it('treats signatures as bytes: truncated, padded or non-base64 signatures fail', async () => {
    const hex = randomHexKey()
    const item = signedItem(sampleItem(), hex)
    const signature = (item.additionalData as { hmacSignature: string }).hmacSignature
    const provider = createAdyenProvider({ hmacKeys: [hexToKey(hex)] })
    for (const bad of [signature.slice(0, -4), `${signature}AAAA`, '!!!!', 'x'.repeat(10_000)]) {
      await expectAppError(
        provider.verify(delivery(notification([{ ...item, additionalData: { hmacSignature: bad } }]))),
        'invalid_signature',
        'bad_signature',
      )
    }
  })

  it('rejects bodies that are not classic notifications as invalid_signature (nothing was verifiable)', async () => {
    const provider = createAdyenProvider({ hmacKeys: [hexToKey(randomHexKey())] })
    const cases: [string | Uint8Array, string][] = [
      ['', 'malformed_body'],
      ['not json', 'malformed_body'],
      [new Uint8Array([0x7b, 0xff, 0x7d]), 'malformed_body'],
      ['[]', 'malformed_body'],
      ['{"notificationItems":{}}', 'malformed_body'],
      ['{"notificationItems":[]}', 'no_items'],
      ['{"notificationItems":[null]}', 'malformed_body'],
      ['{"notificationItems":[{"NotificationRequestItem":[]}]}', 'malformed_body'],
      ['{"notificationItems":[{"NotificationRequestItem":"x"}]}', 'malformed_body'],
    ]
    for (const [body, reason] of cases) {
      await expectAppError(provider.verify(delivery(body)), 'invalid_signature', reason)
    }
  })

  it('says that a header-signed webhook (Balance Platform, Management API) is not supported', async () => {
    const provider = createAdyenProvider({ hmacKeys: [hexToKey(randomHexKey())] })
    const body = JSON.stringify({
      data: { balancePlatform: 'YOUR_BALANCE_PLATFORM', accountHolder: { id: 'AH00000000000000000000001' } },
      environment: 'test',
      type: 'balancePlatform.accountHolder.created',
    })
    const headers = { HmacSignature: 'bmV2ZXIgY2hlY2tlZA==', Protocol: 'HmacSHA256' }
    await expect(provider.verify(delivery(body, headers))).rejects.toThrow(
      /HmacSignature header .* not supported; only classic notifications/,
    )
    await expectAppError(
      provider.verify(delivery(body, headers)),
      'invalid_signature',
      'unsupported_webhook_type',
    )
    // Without the header it is only a body of the wrong shape.
    await expectAppError(provider.verify(delivery(body)), 'invalid_signature', 'malformed_body')
  })

  it('a correctly signed item without eventCode or pspReference is not an event', async () => {
    const hex = randomHexKey()
    const provider = createAdyenProvider({ hmacKeys: [hexToKey(hex)] })
    for (const overrides of [{ eventCode: undefined }, { pspReference: '' }]) {
      await expectAppError(
        provider.verify(delivery(notification([signedItem(sampleItem(overrides), hex)]))),
        'invalid_event',
        'missing_event_fields',
      )
    }
  })

  it('refuses to be built without a usable key', () => {
    expect(() => createAdyenProvider({ hmacKeys: [] })).toThrow(/at least one/)
    expect(() => createAdyenProvider({ hmacKeys: [Buffer.alloc(0)] })).toThrow(/at least one/)
  })
})
