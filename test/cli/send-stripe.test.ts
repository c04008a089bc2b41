import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixtureTypes } from '../../src/cli/fixtures.ts'
import { STRIPE_SECRET } from '../support/stripe-signing.ts'
import { effectHandler, startTestService, type TestService } from '../support/test-service.ts'
import {
  closedPort,
  devSecretValues,
  type JsonReport,
  run,
  scratchCwd,
  writeDevSecrets,
} from './cli-helpers.ts'

const env = { STRIPE_WEBHOOK_SECRET: STRIPE_SECRET }

describe('hookinbox send stripe, against the real service over HTTP', () => {
  let svc: TestService
  const cwd = scratchCwd()
  const recorded = (id: string) =>
    svc.query<{ type: string; status: string }>(
      'SELECT type, status FROM hookinbox_events WHERE provider = ? AND event_id = ?',
      'stripe',
      id,
    )
  const effects = (id: string) =>
    svc.query<{ n: number }>('SELECT count(*) AS n FROM test_effects WHERE event_id = ?', id)[0]?.n

  beforeAll(async () => {
    svc = await startTestService({
      handlers: { 'effect.ts': effectHandler({ provider: 'stripe', events: "['invoice.paid']" }) },
    })
  })
  afterAll(async () => {
    await svc.dispose()
    cwd.remove()
  })

  it.each(fixtureTypes('stripe'))('delivers the built-in %s and the service accepts it', async (type) => {
    const result = await run(['stripe', type, '--url', svc.url, '--json'], { env, cwd: cwd.path })
    expect(result.code).toBe(0)
    const report = result.json<JsonReport>()
    expect(report).toMatchObject({ ok: true, provider: 'stripe', type, advice: [] })
    expect(report.deliveries).toEqual([expect.objectContaining({ n: 1, status: 200 })])
    expect(report.eventId).toMatch(/^evt_[A-Za-z0-9]{24}$/)
    expect(recorded(report.eventId)).toEqual([expect.objectContaining({ type })])
  })

  it('has the built-in events the brief lists', () => {
    expect(fixtureTypes('stripe')).toEqual(
      expect.arrayContaining([
        'payment_intent.succeeded',
        'payment_intent.payment_failed',
        'charge.succeeded',
        'charge.refunded',
        'charge.dispute.created',
        'checkout.session.completed',
        'customer.subscription.created',
        'customer.subscription.updated',
        'customer.subscription.deleted',
        'invoice.paid',
        'invoice.payment_failed',
      ]),
    )
  })

  it('gives every send a fresh event id and creation time', async () => {
    const before = Math.floor(Date.now() / 1000)
    const ids = new Set<string>()
    for (let i = 0; i < 3; i++) {
      const report = (
        await run(['stripe', 'checkout.session.completed', '--url', svc.url, '--json'], {
          env,
          cwd: cwd.path,
        })
      ).json<JsonReport>()
      expect(report.ok).toBe(true)
      ids.add(report.eventId)
      const payload = JSON.parse(
        svc.query<{ payload: string }>(
          'SELECT payload FROM hookinbox_events WHERE event_id = ?',
          report.eventId,
        )[0]?.payload as string,
      )
      expect(payload.created).toBeGreaterThanOrEqual(before)
    }
    expect(ids.size).toBe(3)
  })

  it('--repeat 5 --concurrency 5: the same event five times, processed once, four duplicates', async () => {
    const result = await run(
      ['stripe', 'invoice.paid', '--url', svc.url, '--repeat', '5', '--concurrency', '5', '--json'],
      {
        env,
        cwd: cwd.path,
      },
    )
    expect(result.code).toBe(0)
    const report = result.json<JsonReport>()
    expect(report.deliveries.map((d) => d.status)).toEqual([200, 200, 200, 200, 200])
    expect(report.summary).toMatchObject({
      deliveries: 5,
      statuses: { '200': 5 },
      recorded: { processed: 1 },
      duplicates: 4,
    })
    expect(effects(report.eventId)).toBe(1)
    expect(recorded(report.eventId)).toEqual([expect.objectContaining({ status: 'processed' })])
  })

  it('prints each answer and a summary in text mode', async () => {
    const result = await run(['stripe', 'invoice.paid', '--url', svc.url, '--repeat', '3'], {
      env,
      cwd: cwd.path,
    })
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(
      /^Sending stripe invoice\.paid \(evt_\w+\) to http:\/\/127\.0\.0\.1:\d+\/webhooks\/stripe/,
    )
    expect(result.stdout).toContain(
      'signed with STRIPE_WEBHOOK_SECRET from the environment; 3 copies, 1 at a time',
    )
    expect(result.stdout).toMatch(/#1 +200 {2}\{"received":true,"duplicate":false,"status":"processed"\}/)
    expect(result.stdout).toMatch(/#3 +200 {2}\{"received":true,"duplicate":true,"status":"processed"\}/)
    expect(result.stdout).toContain('3 deliveries: 3 × 200 · 1 processed, 2 duplicates')
    expect(result.stderr).toBe('')
  })

  it('--file sends the user’s event byte for byte and keeps its id', async () => {
    const id = `evt_userfile${Date.now()}`
    const path = join(cwd.path, 'my-event.json')
    const text = `{"id":"${id}","object":"event","type":"customer.created","created":1718000000,\n "data":{"object":{"id":"cus_1"}}}`
    writeFileSync(path, text)
    const first = (
      await run(['stripe', '--file', path, '--url', svc.url, '--json'], { env, cwd: cwd.path })
    ).json<JsonReport>()
    expect(first).toMatchObject({ ok: true, eventId: id, type: 'customer.created' })
    expect(svc.query('SELECT payload FROM hookinbox_events WHERE event_id = ?', id)[0]).toEqual({
      payload: text,
    })
    const again = (
      await run(['stripe', '--file', path, '--url', svc.url, '--json'], { env, cwd: cwd.path })
    ).json<JsonReport>()
    expect(again.summary.duplicates).toBe(1)
  })

  it('--file --fresh-id gives the user’s event a new id', async () => {
    const path = join(cwd.path, 'fresh.json')
    writeFileSync(
      path,
      JSON.stringify({ id: 'evt_keepme', object: 'event', type: 'customer.created', created: 1 }),
    )
    const report = (
      await run(['stripe', '--file', path, '--fresh-id', '--url', svc.url, '--json'], { env, cwd: cwd.path })
    ).json<JsonReport>()
    expect(report.ok).toBe(true)
    expect(report.eventId).toMatch(/^evt_[A-Za-z0-9]{6}$/)
    expect(report.eventId).not.toBe('evt_keepme')
  })

  it('reads STRIPE_WEBHOOK_SECRET from .env and ignores unrelated invalid variables', async () => {
    const dir = scratchCwd()
    try {
      writeFileSync(
        join(dir.path, '.env'),
        `STRIPE_WEBHOOK_SECRET=${STRIPE_SECRET}\nADMIN_TOKEN=short\nPORT=not-a-port\n`,
      )
      const result = await run(['stripe', 'charge.succeeded', '--url', svc.url], {
        cwd: dir.path,
        secrets: [STRIPE_SECRET],
      })
      expect(result.code).toBe(0)
      expect(result.stdout).toContain('signed with STRIPE_WEBHOOK_SECRET from .env')
    } finally {
      dir.remove()
    }
  })

  it('falls back to the dev secrets file next to DATABASE_URL', async () => {
    const dir = scratchCwd()
    const dev = writeDevSecrets(dir.path, 'elsewhere')
    const devSvc = await startTestService({ env: { STRIPE_WEBHOOK_SECRET: dev.stripe.webhookSecret } })
    try {
      const result = await run(['stripe', 'invoice.paid', '--url', devSvc.url], {
        env: { DATABASE_URL: './elsewhere/hookinbox.db' },
        cwd: dir.path,
        secrets: devSecretValues(dev),
      })
      expect(result.code).toBe(0)
      expect(result.stdout).toContain('signed with the dev secrets in ./elsewhere/dev-secrets.json')
    } finally {
      await devSvc.dispose()
      dir.remove()
    }
  })

  it('with no secret anywhere: exit 1 and how to get one', async () => {
    const result = await run(['stripe', 'invoice.paid', '--url', svc.url], { cwd: cwd.path })
    expect(result.code).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain('no Stripe signing secret: set STRIPE_WEBHOOK_SECRET')
    expect(result.stderr).toContain('or run `npm run dev`, which makes one in ./data/dev-secrets.json')
  })

  it('with nothing listening: exit 1, no further copies, and how to start the service', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`
    const result = await run(['stripe', 'invoice.paid', '--url', url, '--repeat', '3'], {
      env,
      cwd: cwd.path,
    })
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(/#1 +failed {2}ECONNREFUSED/)
    expect(result.stdout).not.toContain('#2')
    expect(result.stdout).toContain('(2 more not sent after the connection failed)')
    expect(result.stderr).toContain(
      `hint: nothing is listening at ${url}: start it with \`npm run dev\` or \`npm start\``,
    )
  })

  it('with a different secret than the service: exit 1, 400, and which secret to check', async () => {
    const wrong = 'whsec_not_the_service_secret_0123456789'
    const result = await run(['stripe', 'invoice.paid', '--url', svc.url, '--json'], {
      env: { STRIPE_WEBHOOK_SECRET: wrong },
      cwd: cwd.path,
    })
    expect(result.code).toBe(1)
    const report = result.json<JsonReport>()
    expect(report.deliveries[0]?.status).toBe(400)
    expect(report.advice).toEqual([
      expect.stringContaining(
        'the service and `send` use different secrets. `send` signed with STRIPE_WEBHOOK_SECRET from the environment; check STRIPE_WEBHOOK_SECRET on both sides',
      ),
    ])
  })

  it('signed with a dev secrets file the service does not use: says the file may belong to another data folder', async () => {
    const dir = scratchCwd()
    const dev = writeDevSecrets(dir.path)
    try {
      const result = await run(['stripe', 'invoice.paid', '--url', svc.url], {
        cwd: dir.path,
        secrets: devSecretValues(dev),
      })
      expect(result.code).toBe(1)
      expect(result.stderr).toContain('./data/dev-secrets.json may belong to another data folder')
    } finally {
      dir.remove()
    }
  })

  it('to a service without Stripe: exit 1, 404, and the variable to set on the service', async () => {
    const bare = await startTestService({ env: { STRIPE_WEBHOOK_SECRET: '' } })
    try {
      const result = await run(['stripe', 'invoice.paid', '--url', bare.url], { env, cwd: cwd.path })
      expect(result.code).toBe(1)
      expect(result.stdout).toContain('404  {"error":"stripe is not configured"}')
      expect(result.stderr).toContain(
        'hint: the service has no Stripe signing secret: set STRIPE_WEBHOOK_SECRET on the service',
      )
    } finally {
      await bare.dispose()
    }
  })

  it('a body over MAX_BODY_BYTES: exit 1, 413, and the variable to raise', async () => {
    const small = await startTestService({ env: { MAX_BODY_BYTES: '1024' } })
    try {
      const result = await run(['stripe', 'invoice.paid', '--url', small.url, '--json'], {
        env,
        cwd: cwd.path,
      })
      expect(result.code).toBe(1)
      const report = result.json<JsonReport>()
      expect(report.deliveries[0]?.status).toBe(413)
      expect(report.advice).toEqual([
        expect.stringMatching(
          /^the body \(\d+ bytes\) is larger than the service accepts: raise MAX_BODY_BYTES/,
        ),
      ])
    } finally {
      await small.dispose()
    }
  })

  it('a failing handler: exit 1, 500, and where to look', async () => {
    const failing = await startTestService({
      handlers: { 'boom.ts': effectHandler({ provider: 'stripe', extra: "throw new Error('boom')" }) },
    })
    try {
      const result = await run(['stripe', 'charge.refunded', '--url', failing.url], { env, cwd: cwd.path })
      expect(result.code).toBe(1)
      expect(result.stdout).toContain('500')
      expect(result.stderr).toContain(`hint: a handler failed`)
      expect(result.stderr).toContain(
        `its error is on the admin page (${failing.url}/admin, once the service has an ADMIN_TOKEN) and in the ` +
          'service log at LOG_LEVEL=debug',
      )
    } finally {
      await failing.dispose()
    }
  })

  it('--live sends a live-mode event, which a service skipping test-mode events runs', async () => {
    const live = await startTestService({
      env: { STRIPE_TEST_EVENTS: 'skip' },
      handlers: { 'effect.ts': effectHandler({ provider: 'stripe', events: "['invoice.paid']" }) },
    })
    try {
      const test = await run(['stripe', 'invoice.paid', '--url', live.url], { env, cwd: cwd.path })
      expect(test.code).toBe(0)
      expect(test.stdout).toContain('1 delivery: 1 × 200 · 1 skipped')
      expect(test.stderr).toContain(
        'hint: the service answered "skipped" and ran no handler: it skips test-mode events (its ' +
          'STRIPE_TEST_EVENTS is skip); send with --live for a live-mode event',
      )

      const result = await run(['stripe', 'invoice.paid', '--url', live.url, '--live', '--json'], {
        env,
        cwd: cwd.path,
      })
      expect(result.code).toBe(0)
      const report = result.json<JsonReport>()
      expect(report).toMatchObject({ summary: { recorded: { processed: 1 } }, advice: [] })
      const [row] = live.query<{ payload: string }>(
        'SELECT payload FROM hookinbox_events WHERE event_id = ?',
        report.eventId,
      )
      const payload = JSON.parse(row?.payload ?? '{}')
      expect(payload.livemode).toBe(true)
      expect(payload.data.object.livemode).toBe(true)
      expect(
        live.query<{ n: number }>(
          'SELECT count(*) AS n FROM test_effects WHERE event_id = ?',
          report.eventId,
        ),
      ).toEqual([{ n: 1 }])
    } finally {
      await live.dispose()
    }
  })
})
