/** Configuration parsing of Adyen HMAC keys: strict hex, and errors that never echo a key. */
import { describe, expect, it } from 'vitest'
import { parseAdyenHmacKeys } from '../../src/providers/adyen.ts'

const KEY = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056'

describe('parseAdyenHmacKeys', () => {
  it('decodes one or several comma-separated hex keys, in either case, ignoring spaces and empty entries', () => {
    const keys = parseAdyenHmacKeys(` ${KEY} ,, ${KEY.toLowerCase()},`)
    expect(keys).toHaveLength(2)
    expect(keys[0]?.toString('hex').toUpperCase()).toBe(KEY)
    expect(keys[1]?.equals(keys[0] ?? Buffer.alloc(0))).toBe(true)
  })

  it.each([
    ['empty', ''],
    ['only separators', ' , ,'],
  ])('rejects %s input', (_, csv) => {
    expect(() => parseAdyenHmacKeys(csv)).toThrow(/at least one hex key/)
  })

  it.each([
    ['non-hex characters (Buffer.from would silently truncate)', `${KEY.slice(0, 10)}zz${KEY.slice(12)}`],
    ['an odd number of digits', KEY.slice(1)],
    ['a base64 key', Buffer.from(KEY, 'hex').toString('base64')],
  ])('rejects %s without revealing the key', (_, bad) => {
    let message = ''
    try {
      parseAdyenHmacKeys(`${KEY},${bad}`)
    } catch (err) {
      expect(err).toBeInstanceOf(Error)
      message = (err as Error).message
    }
    expect(message).toMatch(/entry 2/)
    expect(message).not.toContain(bad)
    expect(message).not.toContain(bad.slice(0, 8))
    expect(message).not.toContain(KEY.slice(0, 8))
  })
})
