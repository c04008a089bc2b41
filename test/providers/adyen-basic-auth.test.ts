/** Optional HTTP Basic auth in front of the Adyen HMAC check. */
import { describe, expect, it } from 'vitest'
import { createAdyenProvider } from '../../src/providers/adyen.ts'
import { notification, randomHexKey, sampleItem, signedItem } from './adyen-fixtures.ts'
import { delivery, expectAppError } from './helpers.ts'

const hex = randomHexKey()
const body = notification([signedItem(sampleItem(), hex)])
const basic = (credentials: string) => ({
  authorization: `Basic ${Buffer.from(credentials).toString('base64')}`,
})
const withAuth = createAdyenProvider({
  hmacKeys: [Buffer.from(hex, 'hex')],
  basicAuth: { user: 'adyen', password: 'pä:ss word' },
})

describe('Adyen Basic auth', () => {
  it('is not required when not configured', async () => {
    const provider = createAdyenProvider({ hmacKeys: [Buffer.from(hex, 'hex')] })
    expect(await provider.verify(delivery(body))).toHaveLength(1)
    expect(await provider.verify(delivery(body, basic('any:thing')))).toHaveLength(1)
  })

  it('accepts the right credentials (password with a colon, a space and non-ASCII)', async () => {
    expect(await withAuth.verify(delivery(body, basic('adyen:pä:ss word')))).toHaveLength(1)
    expect(
      await withAuth.verify(delivery(body, { Authorization: basic('adyen:pä:ss word').authorization })),
    ).toHaveLength(1)
    const lowerScheme = `basic ${Buffer.from('adyen:pä:ss word').toString('base64')}`
    expect(await withAuth.verify(delivery(body, { authorization: lowerScheme }))).toHaveLength(1)
  })

  it('answers 401 with a challenge when the header is missing or not Basic', async () => {
    const cases: Record<string, string>[] = [
      {},
      { authorization: 'Bearer abc' },
      { authorization: 'Basic' },
      { authorization: '' },
    ]
    for (const headers of cases) {
      const error = await expectAppError(
        withAuth.verify(delivery(body, headers)),
        'unauthorized',
        'missing_basic_auth',
      )
      expect(error.status).toBe(401)
      expect(error.headers).toEqual({ 'WWW-Authenticate': 'Basic realm="hookinbox"' })
    }
  })

  it('answers 401 for wrong credentials, before looking at the body', async () => {
    for (const credentials of ['adyen:wrong', 'other:pä:ss word', 'adyen:pä:ss word ', 'adyen', ':', '']) {
      const error = await expectAppError(
        withAuth.verify(delivery('not even json', basic(credentials))),
        'unauthorized',
        credentials === '' ? 'missing_basic_auth' : 'bad_basic_auth',
      )
      expect(error.headers['WWW-Authenticate']).toBe('Basic realm="hookinbox"')
      expect(error.message).not.toContain('pä:ss')
    }
  })

  describe('during a password change (previous credentials given too)', () => {
    const rotating = createAdyenProvider({
      hmacKeys: [Buffer.from(hex, 'hex')],
      basicAuth: { user: 'adyen', password: 'new-password' },
      previousBasicAuth: { user: 'adyen', password: 'pä:ss word' },
    })

    it('accepts both, marking the events that came with the previous ones', async () => {
      const [current] = await rotating.verify(delivery(body, basic('adyen:new-password')))
      expect(current?.previousBasicAuth).toBeUndefined()
      const [previous] = await rotating.verify(delivery(body, basic('adyen:pä:ss word')))
      expect(previous?.previousBasicAuth).toBe(true)
      expect(previous?.id).toBe(current?.id)
    })

    it('refuses any other credentials, and a bad HMAC whichever credentials came', async () => {
      for (const credentials of ['adyen:wrong', 'adyen:new-password ', 'other:new-password', 'adyen:pä:ss']) {
        await expectAppError(
          rotating.verify(delivery(body, basic(credentials))),
          'unauthorized',
          'bad_basic_auth',
        )
      }
      const forged = notification([signedItem(sampleItem(), randomHexKey())])
      for (const credentials of ['adyen:new-password', 'adyen:pä:ss word']) {
        await expectAppError(
          rotating.verify(delivery(forged, basic(credentials))),
          'invalid_signature',
          'bad_signature',
        )
      }
    })

    it('are not accepted alone', () => {
      expect(() =>
        createAdyenProvider({
          hmacKeys: [Buffer.from(hex, 'hex')],
          previousBasicAuth: { user: 'adyen', password: 'old' },
        }),
      ).toThrow(/only accepted beside current ones/)
    })
  })

  it('still requires valid HMACs after Basic auth passed', async () => {
    const forged = notification([signedItem(sampleItem(), randomHexKey())])
    await expectAppError(
      withAuth.verify(delivery(forged, basic('adyen:pä:ss word'))),
      'invalid_signature',
      'bad_signature',
    )
  })
})
