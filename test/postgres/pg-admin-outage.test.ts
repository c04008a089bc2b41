/**
 * The admin API while PostgreSQL is out of reach: a 503 in JSON (the operator retries later), like a delivery
 * gets, not a 500 "internal error" logged as a bug; and its answers are back as soon as the database is.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminGet, adminPost } from '../support/admin-client.ts'
import { behindProxy, freshSchema, type PgSchema, postgresAvailable } from '../support/postgres.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import type { TcpProxy } from '../support/tcp-proxy.ts'
import { startTestService, type TestService } from '../support/test-service.ts'

describe.skipIf(!postgresAvailable)('the admin API while PostgreSQL is out of reach', () => {
  let schema: PgSchema
  let proxy: TcpProxy
  let svc: TestService
  const event = stripeEvent()

  beforeAll(async () => {
    schema = await freshSchema('adminout')
    const through = await behindProxy(schema)
    proxy = through.proxy
    svc = await startTestService({ env: { DATABASE_URL: through.url, DATABASE_POOL_SIZE: '2' } })
    expect((await postStripe(svc.url, event)).status).toBe(200)
  })
  afterAll(async () => {
    await svc?.dispose()
    await proxy?.close()
    await schema?.drop()
  })

  const asks = () => [
    adminGet(svc.url, '/admin/api/events?limit=5'),
    adminGet(svc.url, `/admin/api/events/stripe/${event.id}`),
    adminGet(svc.url, '/admin/api/stats'),
    adminPost(svc.url, `/admin/api/events/stripe/${event.id}/replay`),
  ]

  it('answers 503 with a JSON error while the database is cut off, and answers again once it is back', async () => {
    await proxy.cut()
    for (const answer of await Promise.all(asks())) {
      expect(answer.status).toBe(503)
      expect(answer.body).toEqual({ error: expect.stringMatching(/unavailable/) })
    }
    expect(svc.logs.join('')).not.toMatch(/unexpected error/)

    await proxy.restore()
    const [list, detail, stats, replay] = await Promise.all(asks())
    expect(list?.status).toBe(200)
    expect(detail?.status).toBe(200)
    expect(stats?.status).toBe(200)
    // Back to the answer a replay of this event gets: no handler takes it, so it stays ignored.
    expect(replay?.status).toBe(200)
    expect(replay?.body).toMatchObject({ status: 'ignored' })
  })

  it('answers 503 while PostgreSQL refuses new sessions (too many clients)', async () => {
    // Fresh sessions only: the pool's idle connections are closed with the cut.
    await proxy.cut()
    await proxy.restore()
    proxy.refuseSessions(true)
    try {
      for (const answer of await Promise.all(asks())) expect(answer.status).toBe(503)
    } finally {
      proxy.refuseSessions(false)
    }
  })
})
