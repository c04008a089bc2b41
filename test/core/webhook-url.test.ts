/**
 * The webhook URL as users register and check it: a trailing slash still delivers, and any other method
 * than POST (a browser opening the URL) says that the URL exists and takes POST, instead of a 404.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stripeEvent, stripeSignature } from '../support/stripe-signing.ts'
import { startTestService, type TestService } from '../support/test-service.ts'

describe('the webhook URL', () => {
  let svc: TestService
  beforeAll(async () => {
    svc = await startTestService()
  })
  afterAll(async () => {
    await svc?.dispose()
  })

  it('delivers with a trailing slash as without one', async () => {
    for (const path of ['/webhooks/stripe/', '/webhooks/stripe']) {
      const event = stripeEvent()
      const body = JSON.stringify(event)
      const res = await fetch(`${svc.url}${path}`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body) },
      })
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ received: true, duplicate: false })
      expect(svc.query('SELECT 1 FROM hookinbox_events WHERE event_id = ?', event.id)).toHaveLength(1)
    }
  })

  it('answers other methods 405 with Allow: POST on a configured provider', async () => {
    for (const path of ['/webhooks/stripe', '/webhooks/stripe/']) {
      for (const method of ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
        const res = await fetch(`${svc.url}${path}`, { method })
        expect(res.status, `${method} ${path}`).toBe(405)
        expect(res.headers.get('allow')).toBe('POST')
        expect(await res.json()).toEqual({ error: 'webhooks are delivered with POST' })
      }
      const head = await fetch(`${svc.url}${path}`, { method: 'HEAD' })
      expect(head.status, `HEAD ${path}`).toBe(405)
      expect(head.headers.get('allow')).toBe('POST')
    }
  })

  it('answers 404 naming the reason for an unknown or unconfigured provider, whatever the method', async () => {
    for (const method of ['GET', 'POST']) {
      const res = await fetch(`${svc.url}/webhooks/strype`, { method })
      expect(res.status).toBe(404)
      expect(await res.json()).toEqual({ error: 'unknown provider "strype"' })
      // Opened in a browser, the URL of a provider not configured here says so, as a delivery to it would.
      for (const path of ['/webhooks/adyen', '/webhooks/adyen/']) {
        const unconfigured = await fetch(`${svc.url}${path}`, {
          method,
          ...(method === 'POST' ? { body: '{}' } : {}),
        })
        expect(unconfigured.status, `${method} ${path}`).toBe(404)
        expect(await unconfigured.json()).toEqual({ error: 'adyen is not configured' })
      }
    }
    expect((await fetch(`${svc.url}/webhooks/stripe/extra`, { method: 'POST' })).status).toBe(404)
  })
})
