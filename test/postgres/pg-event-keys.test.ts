/**
 * Event ids and types that a signed body may hold but PostgreSQL cannot keep as given: each is refused with a
 * 400 when it arrives, never acknowledged as something it is not and never a 503 at every retry.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { send } from '../hostile/support.ts'
import { notification, randomHexKey, sampleItem, signedItem } from '../providers/adyen-fixtures.ts'
import { freshSchema, type PgSchema, postgresAvailable } from '../support/postgres.ts'
import { postStripe, uniqueId } from '../support/stripe-signing.ts'
import { startTestService, type TestService } from '../support/test-service.ts'

describe.skipIf(!postgresAvailable)('event ids and types on PostgreSQL', () => {
  let schema: PgSchema
  let svc: TestService
  const adyenKey = randomHexKey()

  beforeAll(async () => {
    schema = await freshSchema('keys')
    svc = await startTestService({ env: { DATABASE_URL: schema.url, ADYEN_HMAC_KEY: adyenKey } })
  })
  afterAll(async () => {
    await svc?.dispose()
    await schema?.drop()
  })

  const stored = async () =>
    Number((await schema.query<{ n: string }>('SELECT count(*) AS n FROM hookinbox_events'))[0]?.n)

  it('two ids that differ only in a lone surrogate are not taken for one event', async () => {
    const base = uniqueId()
    const before = await stored()
    // node-postgres writes a lone surrogate as U+FFFD: both ids would be stored as the same one.
    const first = await postStripe(svc.url, `{"id":"${base}\\ud800","type":"test.keys"}`)
    const second = await postStripe(svc.url, `{"id":"${base}\\ud801","type":"test.keys"}`)
    expect(second.body).not.toMatchObject({ duplicate: true })
    expect([first.status, second.status]).toEqual([400, 400])
    expect(await stored()).toBe(before)
  })

  it('a NUL character in the id or the type is a 400, not a 503 at every retry', async () => {
    const before = await stored()
    for (const body of [
      `{"id":"${uniqueId()}\\u0000","type":"test.keys"}`,
      `{"id":"${uniqueId()}","type":"test\\u0000keys"}`,
    ]) {
      const answer = await postStripe(svc.url, body)
      expect(answer.status).toBe(400)
      expect(answer.body).toEqual({ error: expect.any(String) })
    }
    expect(await stored()).toBe(before)
  })

  it('an ordinary id with a surrogate pair is stored as it came', async () => {
    const id = `${uniqueId()}_\u{1F600}`
    expect((await postStripe(svc.url, { id, type: 'test.keys' })).status).toBe(200)
    expect(await schema.query('SELECT event_id FROM hookinbox_events WHERE event_id = $1', [id])).toEqual([
      { event_id: id },
    ])
  })

  it('an Adyen item whose id is over the index entry limit is a 400, not a 503 at every retry', async () => {
    const before = await stored()
    // Random text: PostgreSQL compresses a repetitive key below its limit of 2704 bytes.
    const pspReference = randomBytes(3000).toString('base64url').slice(0, 3000)
    const body = Buffer.from(notification([signedItem(sampleItem({ pspReference }), adyenKey)]))
    const answer = await send(svc.url, {
      path: '/webhooks/adyen',
      headers: [['Content-Length', String(body.length)]],
      body,
    })
    expect(answer.status).toBe(400)
    expect(await stored()).toBe(before)
  })
})
