/**
 * A provider's own event time (Stripe's `created`, PayPal's `create_time`, Adyen's unsigned `eventDate`) far
 * outside the calendar PostgreSQL takes as Drizzle writes it (years 1 to 9999): the event is recorded all the
 * same, with no occurredAt, on SQLite and (when TEST_DATABASE_URL is set) on PostgreSQL, instead of a 503 at
 * every retry.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { notification, sampleItem, signedItem } from '../providers/adyen-fixtures.ts'
import { freshSchema, type PgSchema, postgresAvailable } from '../support/postgres.ts'
import {
  ADYEN_BASIC,
  ADYEN_KEY,
  type HostileService,
  paypalHeaders,
  send,
  startHostileService,
  stripeSign,
} from './support.ts'

const RUN = Date.now().toString(36)

const TIMES: Array<[string, { created: number; iso: string }]> = [
  ['year 0', { created: -62135596801, iso: '0000-06-01T00:00:00Z' }],
  ['a negative year', { created: -800_000_000_000, iso: '-002000-01-01T00:00:00Z' }],
  ['year 10000 and later', { created: 8_640_000_000_000, iso: '+275760-09-13T00:00:00Z' }],
]

for (const store of ['sqlite', 'postgres'] as const) {
  describe.skipIf(store === 'postgres' && !postgresAvailable)(`event times on ${store}`, () => {
    let env: HostileService
    let schema: PgSchema | undefined

    beforeAll(async () => {
      schema = store === 'postgres' ? await freshSchema('times') : undefined
      env = await startHostileService(schema ? { DATABASE_URL: schema.url } : {})
    })
    afterAll(async () => {
      await env?.dispose()
      await schema?.drop()
    })

    async function occurredAt(provider: string, eventId: string): Promise<unknown[]> {
      const sql = 'SELECT occurred_at FROM hookinbox_events WHERE provider = $1 AND event_id = $2'
      const rows = schema
        ? await schema.query<{ occurred_at: unknown }>(sql, [provider, eventId])
        : env.svc.query<{ occurred_at: unknown }>(sql.replace(/\$\d/g, '?'), provider, eventId)
      return rows.map((r) => r.occurred_at)
    }

    async function deliver(path: string, body: Buffer, headers: Array<[string, string]>) {
      return send(env.svc.url, {
        path,
        headers: [...headers, ['Content-Length', String(body.length)]],
        body,
      })
    }

    for (const [name, time] of TIMES) {
      it(`${name}: recorded (200) without an occurredAt, for every provider`, async () => {
        const key = name.replace(/\W/g, '')
        const stripeId = `evt_time_${key}_${RUN}`
        const stripeBody = Buffer.from(
          JSON.stringify({ id: stripeId, type: 'hostile.time', created: time.created }),
        )
        const { t, v1 } = stripeSign(stripeBody, Math.floor(Date.now() / 1000))
        const stripe = await deliver('/webhooks/stripe', stripeBody, [
          ['Stripe-Signature', `t=${t},v1=${v1}`],
        ])
        expect(stripe.status).toBe(200)
        expect(await occurredAt('stripe', stripeId)).toEqual([null])

        const paypalId = `WH-TIME-${key}-${RUN}`
        const paypalBody = Buffer.from(
          JSON.stringify({ id: paypalId, event_type: 'HOSTILE.TIME', create_time: time.iso }),
        )
        const paypal = await deliver(
          '/webhooks/paypal',
          paypalBody,
          paypalHeaders(paypalBody, env.certHost.url()),
        )
        expect(paypal.status).toBe(200)
        expect(await occurredAt('paypal', paypalId)).toEqual([null])

        const psp = `TIME${key}${RUN}`
        const item = signedItem(sampleItem({ pspReference: psp, eventDate: time.iso }), ADYEN_KEY)
        const adyen = await deliver('/webhooks/adyen', Buffer.from(notification([item])), [
          ['Authorization', ADYEN_BASIC],
        ])
        expect(adyen.status).toBe(200)
        expect(await occurredAt('adyen', `TestMerchant:${psp}:AUTHORISATION:true:`)).toEqual([null])
      })
    }

    it('an ordinary time is kept', async () => {
      const id = `evt_time_ordinary_${RUN}`
      const body = Buffer.from(JSON.stringify({ id, type: 'hostile.time', created: 1_700_000_000 }))
      const { t, v1 } = stripeSign(body, Math.floor(Date.now() / 1000))
      expect(
        (await deliver('/webhooks/stripe', body, [['Stripe-Signature', `t=${t},v1=${v1}`]])).status,
      ).toBe(200)
      const [stored] = await occurredAt('stripe', id)
      expect(new Date(stored as string | number).getTime()).toBe(1_700_000_000_000)
    })
  })
}
