/**
 * src/testing.ts, the harness the README offers for testing your own handlers: every provider's delivery is
 * signed as the provider signs it and runs the handlers once, a failing handler answers 500 and its retry
 * runs again, settings pass through while the harness's own secrets stay, close() removes the database, and
 * a harness that cannot start leaves nothing behind. The README's example is
 * test/handlers/checkout-completed.test.ts, printed there exactly as it is.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Harness, startHarness } from '../../src/testing.ts'
import { PROJECT_ROOT, tempDir } from '../support/temp-dir.ts'

const handler = (provider: string) => `import { sql } from 'drizzle-orm'
export default {
  provider: '${provider}',
  events: '*',
  async handle(event, ctx) {
    ctx.tx.run(sql\`CREATE TABLE IF NOT EXISTS seen (provider TEXT, event_id TEXT, type TEXT)\`)
    ctx.tx.run(sql\`INSERT INTO seen VALUES (\${event.provider}, \${event.id}, \${event.type})\`)
    if (event.type === 'charge.failed' && !globalThis.harnessLetsItPass) throw new Error('not yet')
  },
}
`

describe('the handler harness', () => {
  const scratch = tempDir('harness-handlers')
  let harness: Harness
  beforeAll(async () => {
    for (const provider of ['stripe', 'paypal', 'adyen'])
      writeFileSync(join(scratch.path, `${provider}.ts`), handler(provider))
    harness = await startHarness({ handlersDir: scratch.path, env: { MAX_ATTEMPTS: '3' } })
  })
  afterAll(async () => {
    await harness?.close()
    scratch.remove()
  })

  it('delivers each provider’s fixtures, signed as the provider signs them, and runs the handler once', async () => {
    const stripe = harness.fixture('stripe', 'payment_intent.succeeded')
    const paypal = harness.fixture('paypal', 'PAYMENT.CAPTURE.COMPLETED')
    const adyen = harness.fixture('adyen', 'AUTHORISATION')
    expect(await harness.deliver('stripe', stripe)).toEqual({
      status: 200,
      body: { received: true, duplicate: false, status: 'processed' },
    })
    expect(await harness.deliver('paypal', paypal)).toEqual({
      status: 200,
      body: { received: true, duplicate: false, status: 'processed' },
    })
    expect(await harness.deliver('adyen', adyen)).toEqual({ status: 200, body: '[accepted]' })
    // Again: duplicates, nothing runs twice.
    expect((await harness.deliver('paypal', paypal)).body).toMatchObject({ duplicate: true })
    expect(await harness.deliver('adyen', adyen)).toEqual({ status: 200, body: '[accepted]' })
    const seen = harness.query<{ provider: string; n: number }>(
      'SELECT provider, count(*) AS n FROM seen GROUP BY provider ORDER BY provider',
    )
    expect(seen).toEqual([
      { provider: 'adyen', n: 1 },
      { provider: 'paypal', n: 1 },
      { provider: 'stripe', n: 1 },
    ])
  })

  it('takes a bare Adyen item as well as a whole notification', async () => {
    const item = harness.fixture('adyen', 'CAPTURE').notificationItems[0].NotificationRequestItem
    expect(await harness.deliver('adyen', item)).toEqual({ status: 200, body: '[accepted]' })
    expect(harness.query('SELECT type FROM seen WHERE type = ?', 'CAPTURE')).toEqual([{ type: 'CAPTURE' }])
  })

  it('answers a failing handler 500, rolls it back, and runs it again on the retry', async () => {
    const event = harness.fixture('stripe', 'payment_intent.succeeded')
    event.type = 'charge.failed'
    const failed = await harness.deliver('stripe', event)
    expect(failed.status).toBe(500)
    expect(harness.query('SELECT * FROM seen WHERE event_id = ?', event.id)).toEqual([])
    ;(globalThis as { harnessLetsItPass?: boolean }).harnessLetsItPass = true
    expect(await harness.deliver('stripe', event)).toMatchObject({
      status: 200,
      body: { status: 'processed' },
    })
    expect(harness.query('SELECT * FROM seen WHERE event_id = ?', event.id)).toHaveLength(1)
    const [row] = harness.query<{ attempts: number }>(
      'SELECT attempts FROM hookinbox_events WHERE event_id = ?',
      event.id,
    )
    expect(row?.attempts).toBe(2)
  })

  it('exposes the admin API and the log', async () => {
    const res = await fetch(`${harness.url}/admin/api/events?limit=1`, {
      headers: { authorization: `Bearer ${harness.adminToken}` },
    })
    expect(res.status).toBe(200)
    expect(harness.logs.some((line) => line.includes('"msg":"delivery"'))).toBe(true)
  })

  it('deletes its database on close', async () => {
    const other = await startHarness({ handlersDir: scratch.path })
    const [file] = other.query<{ file: string }>(
      'SELECT file FROM pragma_database_list WHERE name = ?',
      'main',
    )
    expect(file && existsSync(file.file)).toBe(true)
    await other.close()
    expect(existsSync(dirname(file?.file ?? ''))).toBe(false)
  })
})

describe('the harness’s settings', () => {
  const scratch = tempDir('harness-settings')
  beforeAll(() => {
    for (const provider of ['stripe', 'paypal', 'adyen'])
      writeFileSync(join(scratch.path, `${provider}.ts`), handler(provider))
  })
  afterAll(() => scratch.remove())

  it('passes settings through, but keeps its own secrets, so every provider still verifies', async () => {
    const harness = await startHarness({
      handlersDir: scratch.path,
      env: {
        MAX_ATTEMPTS: '2',
        ADYEN_BASIC_AUTH: 'adyen:harness-password',
        STRIPE_WEBHOOK_SECRET: 'whsec_someone_elses',
        ADYEN_HMAC_KEY: 'AB12',
        PAYPAL_WEBHOOK_ID: 'OTHERWEBHOOK01',
        PAYPAL_VERIFY: 'api',
        PAYPAL_CLIENT_ID: 'client',
        PAYPAL_CLIENT_SECRET: 'secret',
      },
    })
    try {
      expect((await harness.deliver('stripe', harness.fixture('stripe', 'charge.succeeded'))).status).toBe(
        200,
      )
      expect(
        (await harness.deliver('paypal', harness.fixture('paypal', 'PAYMENT.CAPTURE.COMPLETED'))).status,
      ).toBe(200)
      // Basic auth is required now (ADYEN_BASIC_AUTH), and the harness sends it.
      expect(await harness.deliver('adyen', harness.fixture('adyen', 'AUTHORISATION'))).toEqual({
        status: 200,
        body: '[accepted]',
      })
      // MAX_ATTEMPTS=2: the second failure parks the event.
      const failing = harness.fixture('stripe', 'payment_intent.succeeded')
      failing.type = 'charge.failed'
      ;(globalThis as { harnessLetsItPass?: boolean }).harnessLetsItPass = false
      expect((await harness.deliver('stripe', failing)).status).toBe(500)
      expect(await harness.deliver('stripe', failing)).toMatchObject({
        status: 200,
        body: { status: 'parked' },
      })
    } finally {
      await harness.close()
    }
  })

  it('leaves no folder behind when it cannot start', async () => {
    // A temporary folder of this test's own: other test files start harnesses at the same time.
    const ownTmp = tempDir('harness-tmp')
    const tmp = process.env.TMPDIR
    process.env.TMPDIR = ownTmp.path
    try {
      await expect(
        startHarness({ handlersDir: scratch.path, env: { MAX_ATTEMPTS: 'many' } }),
      ).rejects.toThrow(/MAX_ATTEMPTS/)
      await expect(startHarness({ handlersDir: join(scratch.path, 'missing') })).rejects.toThrow()
      const started = await startHarness({ handlersDir: scratch.path })
      expect(readdirSync(ownTmp.path)).toHaveLength(1)
      await started.close()
      expect(readdirSync(ownTmp.path)).toEqual([])
    } finally {
      if (tmp === undefined) delete process.env.TMPDIR
      else process.env.TMPDIR = tmp
      ownTmp.remove()
    }
  })
})

describe('the README', () => {
  it('prints test/handlers/checkout-completed.test.ts exactly as it is', () => {
    const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8')
    const block = /```ts\n(\/\/ test\/handlers\/checkout-completed\.test\.ts[\s\S]*?)```/.exec(readme)?.[1]
    expect(block).toBe(readFileSync(join(PROJECT_ROOT, 'test/handlers/checkout-completed.test.ts'), 'utf8'))
  })
})
