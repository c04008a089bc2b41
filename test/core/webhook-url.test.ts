/**
 * The webhook URL as users register and check it: a trailing slash still delivers, and any other method
 * than POST (a browser opening the URL) says that the URL exists and takes POST, instead of a 404.
 */
import { request } from 'node:http'
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

  it('answers a method outside GET/PUT/PATCH/DELETE/OPTIONS as any other: 404 unknown or unconfigured, else Allow: POST', async () => {
    // TRACE, PROPFIND, … (Node passes them on) used to reach the app's 405 fallback, which listed the methods
    // of the wrong-method routes (GET, PUT, …) in Allow, for any provider name, real or not.
    const send = (method: string, path: string) =>
      new Promise<{ status: number; allow: string | undefined; body: string }>((resolve, reject) => {
        const req = request(`${svc.url}${path}`, { method }, (res) => {
          let body = ''
          res.on('data', (d) => {
            body += d
          })
          res.on('end', () => resolve({ status: res.statusCode ?? 0, allow: res.headers.allow, body }))
        })
        req.on('error', reject)
        req.end()
      })
    for (const method of ['TRACE', 'PROPFIND', 'REPORT']) {
      expect(await send(method, '/webhooks/strype'), method).toMatchObject({ status: 404, allow: undefined })
      expect(await send(method, '/webhooks/adyen/'), method).toMatchObject({
        status: 404,
        body: JSON.stringify({ error: 'adyen is not configured' }),
      })
      expect(await send(method, '/webhooks/stripe'), method).toMatchObject({ status: 405, allow: 'POST' })
    }
  })
})
