/**
 * A URL that exists answers another method 405 with the methods it takes in `Allow`, everywhere, as the
 * webhook URLs do: a 404 would tell an operator who POSTs where GET is meant (or the reverse) that the URL,
 * or the event in it, does not exist. Unknown URLs stay 404, and /admin still asks for its token first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer } from '../support/admin-client.ts'
import { startTestService, type TestService } from '../support/test-service.ts'

describe('a method a URL does not take', () => {
  let svc: TestService
  beforeAll(async () => {
    svc = await startTestService()
  })
  afterAll(async () => {
    await svc?.dispose()
  })

  it.each([
    ['POST', '/healthz', 'GET, HEAD'],
    ['DELETE', '/readyz', 'GET, HEAD'],
    ['POST', '/metrics', 'GET, HEAD'],
    ['PUT', '/admin/api/events', 'GET, HEAD'],
    ['DELETE', '/admin/api/events/stripe/evt_1', 'GET, HEAD'],
    ['GET', '/admin/api/events/stripe/evt_1/replay', 'POST'],
    ['HEAD', '/admin/api/events/stripe/evt_1/replay', 'POST'],
    ['GET', '/admin/api/replay', 'POST'],
    ['OPTIONS', '/admin/api/stats', 'GET, HEAD'],
    ['POST', '/admin/assets/admin.css', 'GET, HEAD'],
    ['GET', '/admin/events/stripe/evt_1/replay', 'POST'],
    ['PUT', '/admin/events/stripe/evt_1/replay', 'POST'],
    ['DELETE', '/admin/events/stripe/evt_1', 'GET, HEAD'],
  ])('%s %s is 405 with Allow: %s', async (method, path, allow) => {
    const res = await fetch(`${svc.url}${path}`, { method, headers: bearer })
    expect(res.status).toBe(405)
    expect(res.headers.get('allow')).toBe(allow)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    if (method !== 'HEAD') expect(await res.json()).toEqual({ error: `this URL takes ${allow}` })
  })

  it('keeps 404 for URLs that do not exist, and 401 before anything under /admin', async () => {
    for (const path of ['/nope', '/admin/api/nope', '/admin/api/events/stripe', '/healthz/x']) {
      for (const method of ['GET', 'POST']) {
        const res = await fetch(`${svc.url}${path}`, { method, headers: bearer })
        expect(res.status, `${method} ${path}`).toBe(404)
        expect(res.headers.get('allow')).toBeNull()
      }
    }
    const anonymous = await fetch(`${svc.url}/admin/api/replay`)
    expect(anonymous.status).toBe(401)
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic /)
  })

  it('still refuses a cross-site POST to the admin API, and lets a cross-site GET through', async () => {
    const post = await fetch(`${svc.url}/admin/api/replay`, {
      method: 'POST',
      headers: { ...bearer, 'sec-fetch-site': 'cross-site', 'content-type': 'application/json' },
      body: '{"dryRun":true}',
    })
    expect(post.status).toBe(403)
    const get = await fetch(`${svc.url}/admin/api/stats`, {
      headers: { ...bearer, 'sec-fetch-site': 'cross-site' },
    })
    expect(get.status).toBe(200)
  })
})
