/**
 * The admin page in a real headless browser (Debian's chromium, driven by playwright-core): open the page,
 * filter, open an event, replay a parked one. Skips, saying why, where no browser is installed.
 */
import { existsSync } from 'node:fs'
import { type Browser, chromium } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { ADMIN_TOKEN, effectHandler, startTestService, type TestService } from '../support/test-service.ts'

const CHROMIUM = '/usr/bin/chromium'
const hasBrowser = existsSync(CHROMIUM)
if (!hasBrowser)
  console.warn(`admin page browser test skipped: ${CHROMIUM} is not installed (apt-get install chromium)`)

const failing = globalThis as { pageFail?: Set<string> }

describe.skipIf(!hasBrowser)('the admin page in headless Chromium', () => {
  let svc: TestService
  let browser: Browser
  const parked = stripeEvent({
    type: 'invoice.payment_failed',
    data: { object: { note: '<script>window.pwned = 1</script>' } },
  })

  beforeAll(async () => {
    failing.pageFail = new Set([parked.id as string])
    svc = await startTestService({
      env: { MAX_ATTEMPTS: '1' },
      handlers: {
        'effect.ts': effectHandler({
          extra: "if (globalThis.pageFail.has(event.id)) throw new Error('ledger unavailable')",
        }),
      },
    })
    for (let i = 0; i < 5; i++) await postStripe(svc.url, stripeEvent({ type: 'invoice.paid' }))
    await postStripe(svc.url, parked)
    failing.pageFail.clear()
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    })
  })
  afterAll(async () => {
    await browser?.close()
    await svc?.dispose()
  })

  it('lists, filters, opens an event and replays it, with escaped payloads and no CSP violations', async () => {
    const context = await browser.newContext({
      httpCredentials: { username: 'operator', password: ADMIN_TOKEN },
    })
    const page = await context.newPage()
    const problems: string[] = []
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text())
    })
    page.on('pageerror', (e) => problems.push(e.message))
    let dialogs = 0
    page.on('dialog', (d) => {
      dialogs++
      void d.dismiss()
    })

    await page.goto(`${svc.url}/admin`)
    expect(await page.title()).toBe('Events · hookinbox')
    expect(await page.locator('tbody tr').count()).toBe(6)
    // Times are shown in the browser's zone, not as raw ISO strings.
    const shown = await page.locator('tbody time').first().textContent()
    expect(shown).not.toMatch(/^\d{4}-\d{2}-\d{2}T/)

    await page.selectOption('select[name=status]', 'parked')
    await page.click('button[type=submit]')
    await page.waitForURL(/status=parked/)
    const rows = page.locator('tbody tr')
    expect(await rows.count()).toBe(1)
    expect(await rows.first().locator('.status-parked').textContent()).toBe('parked')

    await rows.first().locator('td.id a').click()
    await page.waitForURL(/\/admin\/events\/stripe\//)
    expect(await page.locator('pre.payload').textContent()).toContain('<script>window.pwned = 1</script>')
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined()
    expect(await page.locator('dl.facts').textContent()).toContain('ledger unavailable')

    await page.click('#replay')
    await page.waitForURL(/notice=/)
    expect(await page.locator('.notice').textContent()).toBe('Replayed: the event is now processed.')
    expect(await page.locator('dl.facts .status').textContent()).toBe('processed')
    expect(await page.locator('#replay').count()).toBe(0)
    const [effects] = svc.query<{ n: number }>(
      'SELECT count(*) AS n FROM test_effects WHERE event_id = ?',
      parked.id,
    )
    expect(effects?.n).toBe(1)

    await page.screenshot({ path: `${svc.dir}/admin-detail.png`, fullPage: true })
    expect(dialogs).toBe(0)
    expect(problems).toEqual([])
    await context.close()
  })

  it('says the Since and Until fields are UTC, and reads them so, in a browser thirteen hours ahead', async () => {
    const context = await browser.newContext({
      httpCredentials: { username: 'operator', password: ADMIN_TOKEN },
      timezoneId: 'Pacific/Auckland',
    })
    const page = await context.newPage()
    await page.goto(`${svc.url}/admin`)
    expect(await page.locator('label', { has: page.locator('input[name=since]') }).textContent()).toContain(
      'Since (UTC)',
    )
    expect(await page.locator('label', { has: page.locator('input[name=until]') }).textContent()).toContain(
      'Until (UTC)',
    )
    // An hour from now in UTC, without a zone: read in the browser's zone it would be 12 hours ago.
    const inAnHour = new Date(Date.now() + 3_600_000).toISOString().slice(0, 16)
    await page.fill('input[name=since]', inAnHour)
    await page.click('button[type=submit]')
    await page.waitForURL(/since=/)
    expect(await page.locator('p.empty').textContent()).toBe('No events match.')
    await context.close()
  })
})
