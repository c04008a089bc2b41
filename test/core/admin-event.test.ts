import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { ADMIN_TOKEN, effectHandler, startTestService, type TestService } from '../support/test-service.ts'

describe('GET /admin/api/events/:provider/:eventId', () => {
  let svc: TestService
  beforeAll(async () => {
    svc = await startTestService({ handlers: { 'effect.ts': effectHandler({ name: 'record-effect' }) } })
  })
  afterAll(() => svc.dispose())
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${svc.url}${path}`, { headers })

  it('answers the event with its status, handlers, payload and attempt log', async () => {
    const event = stripeEvent()
    await postStripe(svc.url, event)
    await postStripe(svc.url, event)
    const res = await get(`/admin/api/events/stripe/${event.id}`, { authorization: `Bearer ${ADMIN_TOKEN}` })
    expect(res.status).toBe(200)
    const body = await res.json()
    expect(body).toMatchObject({
      provider: 'stripe',
      eventId: event.id,
      type: event.type,
      status: 'processed',
      attempts: 1,
      lastError: null,
      handlers: ['record-effect'],
      payload: event,
    })
    expect(new Date(body.receivedAt).toISOString()).toBe(body.receivedAt)
    expect(new Date(body.processedAt).toISOString()).toBe(body.processedAt)
    expect(body.attemptLog).toHaveLength(1)
    expect(body.attemptLog[0]).toMatchObject({ outcome: 'processed', error: null, trigger: 'delivery' })
    expect(typeof body.attemptLog[0].durationMs).toBe('number')
  })

  it('answers 404 for an unknown event', async () => {
    const res = await get('/admin/api/events/stripe/evt_never_seen', {
      authorization: `Bearer ${ADMIN_TOKEN}`,
    })
    expect(res.status).toBe(404)
  })

  it('answers 401 with a Basic challenge for a missing or wrong token', async () => {
    const cases: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong-token-wrong-token' },
      { authorization: 'Token x' },
    ]
    for (const headers of cases) {
      const res = await get('/admin/api/events/stripe/x', headers)
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="hookinbox"/)
      expect(await res.text()).not.toContain(ADMIN_TOKEN)
    }
  })

  it('accepts HTTP Basic with the token as the password', async () => {
    const basic = Buffer.from(`operator:${ADMIN_TOKEN}`).toString('base64')
    const res = await get('/admin/api/events/stripe/evt_never_seen', { authorization: `Basic ${basic}` })
    expect(res.status).toBe(404)
    expect(await res.json()).toEqual({ error: 'no such event' })
  })

  it('does not exist without ADMIN_TOKEN, and start-up says how to enable it', async () => {
    const bare = await startTestService({ env: { ADMIN_TOKEN: '' } })
    try {
      const res = await fetch(`${bare.url}/admin/api/events/stripe/x`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      })
      expect(res.status).toBe(404)
      expect(bare.logs.join('\n')).toMatch(/set ADMIN_TOKEN/)
    } finally {
      await bare.dispose()
    }
  })
})
