/**
 * Property tests: whatever arrives, the Adyen verifier only ever throws AppError, never accepts anything
 * it cannot verify with the key, and always accepts what was signed with the key.
 */
import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { AppError } from '../../src/errors.ts'
import { adyenItemSignature, adyenSigningString, createAdyenProvider } from '../../src/providers/adyen.ts'
import { signWithAdyenLibrary } from './adyen-fixtures.ts'
import { delivery } from './helpers.ts'

const key = randomBytes(32)
const provider = createAdyenProvider({ hmacKeys: [key] })

/** Runs verify and reports how it ended; anything other than a result or an AppError fails the property. */
async function outcome(body: string | Uint8Array): Promise<'verified' | 'rejected'> {
  try {
    await provider.verify(delivery(body))
    return 'verified'
  } catch (err) {
    if (!(err instanceof AppError)) throw new Error(`non-AppError escaped: ${String(err)}`)
    return 'rejected'
  }
}

const text = fc.string({ unit: 'binary', maxLength: 40 })
const scalar = fc.oneof(
  text,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.constant('true'),
)
const field = fc.oneof(scalar, fc.jsonValue({ maxDepth: 2 }), fc.array(scalar, { maxLength: 3 }))
const signatureLike = fc.oneof(
  fc.base64String({ minLength: 44, maxLength: 44 }),
  text,
  field,
  fc.constant(randomBytes(32).toString('base64')),
)
/** Something shaped roughly like a NotificationRequestItem, with hostile values anywhere. */
const itemLike = fc.record(
  {
    pspReference: field,
    originalReference: field,
    merchantAccountCode: field,
    merchantReference: field,
    amount: fc.oneof(field, fc.record({ value: field, currency: field }, { requiredKeys: [] })),
    eventCode: field,
    success: field,
    eventDate: field,
    additionalData: fc.oneof(field, fc.record({ hmacSignature: signatureLike }, { requiredKeys: [] })),
  },
  { requiredKeys: [] },
)
const bodyLike = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.record({ live: field, notificationItems: field }).map((v) => JSON.stringify(v)),
  fc
    .array(
      fc.oneof(
        itemLike.map((NotificationRequestItem) => ({ NotificationRequestItem })),
        field,
      ),
      {
        maxLength: 4,
      },
    )
    .map((notificationItems) => JSON.stringify({ live: 'false', notificationItems })),
)

describe('Adyen verifier on hostile input', () => {
  it('random bodies never verify and never throw anything but AppError', async () => {
    await fc.assert(
      fc.asyncProperty(bodyLike, async (body) => {
        expect(await outcome(body)).toBe('rejected')
      }),
      { numRuns: 500 },
    )
  })

  it('adyenItemSignature on any value returns a signature or throws AppError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything({ withBoxedValues: true, withNullPrototype: true, withBigInt: true, withMap: true }),
          itemLike,
        ),
        (value) => {
          try {
            expect(typeof adyenItemSignature(value, key)).toBe('string')
          } catch (err) {
            expect(err).toBeInstanceOf(AppError)
          }
        },
      ),
      { numRuns: 1000 },
    )
  })
})

/**
 * Values Adyen could really sign: strings (any Unicode, including `\\`), integers, booleans, null. Only
 * merchantReference also gets `:` (see refuseShiftableColons in adyen.ts).
 */
const noColon = (text: fc.Arbitrary<string>) => text.map((t) => t.replaceAll(':', ''))
const signableWith = (text: fc.Arbitrary<string>) =>
  fc.oneof(text, fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined))
const anyText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.constantFrom(':', '\\', ' lead', 'trail ', 'a:b\\:c'),
)
const signable = signableWith(noColon(anyText))
const nonEmpty = noColon(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 })).filter((t) => t !== '')
const signableItem = fc.record({
  pspReference: nonEmpty,
  originalReference: signable,
  merchantAccountCode: signable,
  merchantReference: signableWith(anyText),
  amount: fc.oneof(
    fc.record({ value: fc.oneof(fc.integer(), noColon(fc.string({ maxLength: 6 }))), currency: signable }),
    fc.constant(undefined),
  ),
  eventCode: nonEmpty,
  success: fc.oneof(fc.constantFrom('true', 'false'), fc.boolean()),
  extra: fc.jsonValue({ maxDepth: 2 }),
})
const signedBody = (items: Record<string, unknown>[], signKey: Buffer) =>
  JSON.stringify({
    live: 'false',
    notificationItems: items.map((item) => ({
      NotificationRequestItem: {
        ...item,
        additionalData: { hmacSignature: adyenItemSignature(item, signKey) },
      },
    })),
  })

describe('Adyen sign-then-verify', () => {
  it('every batch signed with the key verifies, one event per item', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(signableItem, { minLength: 1, maxLength: 4 }), async (items) => {
        const events = await provider.verify(delivery(signedBody(items, key)))
        expect(events.map((e) => e.type)).toEqual(items.map((i) => i.eventCode))
      }),
      { numRuns: 300 },
    )
  })

  it('no batch signed with another key verifies', async () => {
    const otherKey = randomBytes(32)
    await fc.assert(
      fc.asyncProperty(fc.array(signableItem, { minLength: 1, maxLength: 3 }), async (items) => {
        expect(await outcome(signedBody(items, otherKey))).toBe('rejected')
      }),
      { numRuns: 200 },
    )
  })

  it('changing any signed field after signing is detected', async () => {
    const paths = [
      'pspReference',
      'originalReference',
      'merchantAccountCode',
      'merchantReference',
      'amount.value',
      'amount.currency',
      'eventCode',
      'success',
    ] as const
    await fc.assert(
      fc.asyncProperty(signableItem, fc.constantFrom(...paths), async (item, path) => {
        const signed = { ...item, additionalData: { hmacSignature: adyenItemSignature(item, key) } }
        const amount = { ...(item.amount ?? {}) } as Record<string, unknown>
        const tampered: Record<string, unknown> = { ...signed, amount }
        if (path.startsWith('amount.')) {
          const name = path.slice('amount.'.length)
          amount[name] = `${amount[name] ?? ''}x`
        } else {
          tampered[path] = `${tampered[path] ?? ''}x`
        }
        const body = JSON.stringify({ notificationItems: [{ NotificationRequestItem: tampered }] })
        expect(await outcome(body)).toBe('rejected')
      }),
      { numRuns: 300 },
    )
  })

  it('moving a colon from merchantReference into a neighbouring field is refused, though it signs the same', async () => {
    const genuine = {
      pspReference: '7914073381342284',
      merchantAccountCode: 'M',
      merchantReference: 'shop:order-42',
      amount: { value: 1000, currency: 'EUR' },
      eventCode: 'AUTHORISATION',
      success: 'true',
    }
    const hmacSignature = adyenItemSignature(genuine, key)
    const shifted = [
      { ...genuine, merchantAccountCode: 'M:shop', merchantReference: 'order-42' },
      {
        ...genuine,
        originalReference: ':M',
        merchantAccountCode: 'shop',
        merchantReference: 'order-42',
      },
    ]
    expect((await provider.verify(delivery(signedBody([genuine], key))))[0]?.id).toContain('7914073381342284')
    for (const item of shifted) {
      expect(adyenSigningString(item)).toBe(adyenSigningString(genuine))
      const body = JSON.stringify({
        notificationItems: [{ NotificationRequestItem: { ...item, additionalData: { hmacSignature } } }],
      })
      await expect(provider.verify(delivery(body))).rejects.toMatchObject({ reason: 'malformed_item' })
    }
  })

  it('a colon in any signed field but merchantReference is refused, even when correctly signed', async () => {
    const names = [
      'pspReference',
      'originalReference',
      'merchantAccountCode',
      'eventCode',
      'success',
    ] as const
    await fc.assert(
      fc.asyncProperty(
        signableItem,
        fc.constantFrom(...names, 'amount.value', 'amount.currency'),
        async (item, name) => {
          const withColon: Record<string, unknown> = {
            ...item,
            amount: { value: 1000, currency: 'EUR', ...item.amount },
          }
          if (name.startsWith('amount.')) (withColon.amount as Record<string, unknown>)[name.slice(7)] = 'a:b'
          else withColon[name] = 'a:b'
          expect(await outcome(signedBody([withColon], key))).toBe('rejected')
        },
      ),
      { numRuns: 200 },
    )
  })

  it('agrees with @adyen/api-library whenever the item holds an amount object', () => {
    const hex = key.toString('hex')
    fc.assert(
      fc.property(signableItem, (item) => {
        fc.pre(item.amount !== undefined)
        expect(adyenItemSignature(item, key)).toBe(signWithAdyenLibrary(item, hex))
        expect(adyenSigningString(item)).toBe(
          [
            item.pspReference,
            item.originalReference,
            item.merchantAccountCode,
            item.merchantReference,
            item.amount?.value,
            item.amount?.currency,
            item.eventCode,
            item.success,
          ]
            .map((v) => (v === null || v === undefined ? '' : String(v)))
            .join(':'),
        )
      }),
      { numRuns: 500 },
    )
  })
})
