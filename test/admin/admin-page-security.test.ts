import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer } from '../support/admin-client.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { startTestService, type TestService } from '../support/test-service.ts'

describe('admin page safety', () => {
  let svc: TestService
  const hostile = stripeEvent({
    type: '<img src=x onerror=alert(1)>',
    data: { object: { x: '</pre><script>alert(1)</script>' } },
  })
  beforeAll(async () => {
    svc = await startTestService()
    await postStripe(svc.url, hostile)
  })
  afterAll(() => svc.dispose())

  it('sends a strict CSP, nosniff and frame denial', async () => {
    const res = await fetch(`${svc.url}/admin`, { headers: bearer })
    expect(res.status).toBe(200)
    const csp = res.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("script-src 'self'")
    expect(csp).toContain("frame-ancestors 'none'")
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('x-frame-options')).toBe('DENY')
  })

  it('escapes payloads and types in the list and the detail page', async () => {
    const list = await fetch(`${svc.url}/admin`, { headers: bearer }).then((r) => r.text())
    expect(list).not.toContain('<img src=x')
    expect(list).toContain('&lt;img src=x onerror=alert(1)&gt;')
    const detail = await fetch(`${svc.url}/admin/events/stripe/${hostile.id}`, { headers: bearer }).then(
      (r) => r.text(),
    )
    expect(detail).not.toContain('<script>alert(1)</script>')
    expect(detail).toContain('&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;')
  })

  it('shows no notice whose words come from the link, nor one for an unknown code', async () => {
    const phishing = 'Session expired, re-enter your token at https://evil.example'
    for (const notice of [phishing, 'constructor', '__proto__', 'toString', '']) {
      const query = new URLSearchParams({ notice })
      const res = await fetch(`${svc.url}/admin/events/stripe/${hostile.id}?${query}`, { headers: bearer })
      expect(res.status).toBe(200)
      const page = await res.text()
      expect(page, notice).not.toContain('class="notice"')
      expect(page, notice).not.toContain('evil.example')
    }
  })

  it('refuses a cross-site form post to the replay action', async () => {
    const res = await fetch(`${svc.url}/admin/events/stripe/${hostile.id}/replay`, {
      method: 'POST',
      headers: {
        ...bearer,
        origin: 'https://evil.example',
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: '',
    })
    expect(res.status).toBe(403)
  })

  it('answers a bad filter on the page with 400 and the reason, not a 500', async () => {
    const res = await fetch(`${svc.url}/admin?limit=9999`, { headers: bearer })
    expect(res.status).toBe(400)
    expect(await res.text()).toContain('invalid parameter &quot;limit&quot;')
  })

  it('takes the token with any number of spaces after the scheme, and no other token', async () => {
    const token = bearer.authorization.replace(/^Bearer /, '')
    for (const authorization of [`Bearer  ${token}`, `bearer ${token}`, `Basic   ${btoa(`x:${token}`)}`]) {
      expect((await fetch(`${svc.url}/admin/api/stats`, { headers: { authorization } })).status).toBe(200)
    }
    for (const authorization of ['Bearer', `Bearer${token}`, `Bearer ${token}x`, `Bearer ${token} x`]) {
      expect((await fetch(`${svc.url}/admin/api/stats`, { headers: { authorization } })).status).toBe(401)
    }
  })

  it('sends /admin/ to /admin, keeping the filter, once authenticated', async () => {
    expect((await fetch(`${svc.url}/admin/`)).status).toBe(401)
    const res = await fetch(`${svc.url}/admin/?status=failed`, { headers: bearer, redirect: 'manual' })
    expect(res.status).toBe(301)
    expect(res.headers.get('location')).toBe('/admin?status=failed')
  })

  it('asks a browser for Basic credentials', async () => {
    const res = await fetch(`${svc.url}/admin`)
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="hookinbox"/)
  })
})
