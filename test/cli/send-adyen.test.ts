import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixtureTypes } from '../../src/cli/fixtures.ts'
import { randomHexKey } from '../providers/adyen-fixtures.ts'
import { effectHandler, startTestService, type TestService } from '../support/test-service.ts'
import { devSecretValues, type JsonReport, run, scratchCwd, writeDevSecrets } from './cli-helpers.ts'

const KEY = randomHexKey()
const BASIC = 'adyen-hook:correct-horse-battery'
const env = { ADYEN_HMAC_KEY: KEY }

describe('hookinbox send adyen, against the real service over HTTP', () => {
  let svc: TestService
  let guarded: TestService
  const cwd = scratchCwd()
  /** The service's rows for a pspReference (its event id is merchant:psp:eventCode:success:original). */
  const rows = (service: TestService, psp: string) =>
    service.query<{ event_id: string; type: string; status: string }>(
      "SELECT event_id, type, status FROM hookinbox_events WHERE provider = 'adyen' AND event_id LIKE ?",
      `%:${psp}:%`,
    )

  beforeAll(async () => {
    svc = await startTestService({
      env: { ADYEN_HMAC_KEY: KEY },
      handlers: { 'effect.ts': effectHandler({ provider: 'adyen', events: "['AUTHORISATION']" }) },
    })
    guarded = await startTestService({ env: { ADYEN_HMAC_KEY: KEY, ADYEN_BASIC_AUTH: BASIC } })
  })
  afterAll(async () => {
    await svc.dispose()
    await guarded.dispose()
    cwd.remove()
  })

  it.each(fixtureTypes('adyen'))('delivers the built-in %s and the service accepts it', async (type) => {
    const result = await run(['adyen', type, '--url', svc.url, '--json'], { env, cwd: cwd.path })
    expect(result.code).toBe(0)
    const report = result.json<JsonReport>()
    expect(report).toMatchObject({ ok: true, provider: 'adyen', type, advice: [] })
    expect(report.deliveries).toEqual([expect.objectContaining({ status: 200, body: '[accepted]' })])
    expect(rows(svc, report.eventId)).toEqual([expect.objectContaining({ type })])
  })

  it('has the built-in events the brief lists', () => {
    expect(fixtureTypes('adyen')).toEqual(
      expect.arrayContaining([
        'AUTHORISATION',
        'CAPTURE',
        'CAPTURE_FAILED',
        'REFUND',
        'REFUND_FAILED',
        'CANCELLATION',
        'CHARGEBACK',
        'CHARGEBACK_REVERSED',
        'REPORT_AVAILABLE',
        'PAYOUT_THIRDPARTY',
      ]),
    )
  })

  it('gives every send a fresh pspReference (a report keeps its file-name shape)', async () => {
    const auth = await run(['adyen', 'AUTHORISATION', '--url', svc.url, '--json'], { env, cwd: cwd.path })
    const auth2 = await run(['adyen', 'authorisation', '--url', svc.url, '--json'], { env, cwd: cwd.path })
    const a = auth.json<JsonReport>().eventId
    const b = auth2.json<JsonReport>().eventId
    expect(a).toMatch(/^[A-Z0-9]{16}$/)
    expect(b).toMatch(/^[A-Z0-9]{16}$/)
    expect(a).not.toBe(b)
    const report = (
      await run(['adyen', 'REPORT_AVAILABLE', '--url', svc.url, '--json'], { env, cwd: cwd.path })
    ).json<JsonReport>()
    expect(report.eventId).toMatch(/^settlement_detail_report_batch_\d{3}\.csv$/)
  })

  it('--repeat 5 --concurrency 5: recorded and processed once', async () => {
    const result = await run(
      ['adyen', 'AUTHORISATION', '--url', svc.url, '--repeat', '5', '--concurrency', '5'],
      {
        env,
        cwd: cwd.path,
      },
    )
    expect(result.code).toBe(0)
    const psp = /\(([A-Z0-9]{16})\)/.exec(result.stdout)?.[1] as string
    expect(result.stdout).toContain('5 deliveries: 5 × 200')
    expect(result.stdout).toContain("Adyen's answer is [accepted] for new and duplicate events alike")
    const stored = rows(svc, psp)
    expect(stored).toEqual([expect.objectContaining({ status: 'processed' })])
    const effects = svc.query<{ n: number }>(
      'SELECT count(*) AS n FROM test_effects WHERE event_id = ?',
      stored[0]?.event_id,
    )
    expect(effects[0]?.n).toBe(1)
  })

  it('--file takes a bare NotificationRequestItem and keeps its pspReference', async () => {
    const psp = `FILE${Date.now()}`.slice(0, 16)
    const path = join(cwd.path, 'item.json')
    writeFileSync(
      path,
      JSON.stringify({
        amount: { currency: 'EUR', value: 1000 },
        eventCode: 'AUTHORISATION',
        merchantAccountCode: 'MyShopECOM',
        merchantReference: 'my-order-1',
        pspReference: psp,
        success: 'true',
        additionalData: { hmacSignature: 'stale-signature-is-replaced' },
      }),
    )
    const report = (
      await run(['adyen', '--file', path, '--url', svc.url, '--json'], { env, cwd: cwd.path })
    ).json<JsonReport>()
    expect(report).toMatchObject({ ok: true, eventId: psp, type: 'AUTHORISATION' })
    expect(rows(svc, psp)).toHaveLength(1)
  })

  it('--file takes a whole notification with several items; --fresh-id renews every pspReference', async () => {
    const item = (psp: string, eventCode: string) => ({
      NotificationRequestItem: {
        amount: { currency: 'USD', value: 250 },
        eventCode,
        merchantAccountCode: 'MyShopECOM',
        merchantReference: 'batch-1',
        originalReference: 'ORIGINALPSP00001',
        pspReference: psp,
        success: 'true',
      },
    })
    const path = join(cwd.path, 'notification.json')
    writeFileSync(
      path,
      JSON.stringify({
        live: 'false',
        notificationItems: [item('KEEP000000000001', 'CAPTURE'), item('KEEP000000000002', 'REFUND')],
      }),
    )
    const kept = (
      await run(['adyen', '--file', path, '--url', svc.url, '--json'], { env, cwd: cwd.path })
    ).json<JsonReport>()
    expect(kept).toMatchObject({
      ok: true,
      eventId: 'KEEP000000000001, KEEP000000000002',
      type: 'CAPTURE, REFUND',
    })
    const fresh = (
      await run(['adyen', '--file', path, '--fresh-id', '--url', svc.url, '--json'], { env, cwd: cwd.path })
    ).json<JsonReport>()
    expect(fresh.ok).toBe(true)
    expect(fresh.eventId).toMatch(/^[A-Z0-9]{16}, [A-Z0-9]{16}$/)
    expect(fresh.eventId).not.toContain('KEEP')
  })

  it('sends ADYEN_BASIC_AUTH when set', async () => {
    const result = await run(['adyen', 'REFUND', '--url', guarded.url], {
      env: { ...env, ADYEN_BASIC_AUTH: BASIC },
      cwd: cwd.path,
    })
    expect(result.code).toBe(0)
  })

  it('without the Basic auth the service requires: exit 1, 401, set ADYEN_BASIC_AUTH', async () => {
    const result = await run(['adyen', 'REFUND', '--url', guarded.url], { env, cwd: cwd.path })
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(/#1 +401/)
    expect(result.stderr).toContain(
      'hint: the service requires HTTP Basic auth for Adyen: set ADYEN_BASIC_AUTH here',
    )
  })

  it('with other Basic credentials: exit 1, 401, the credentials differ', async () => {
    const result = await run(['adyen', 'REFUND', '--url', guarded.url], {
      env: { ...env, ADYEN_BASIC_AUTH: 'adyen-hook:wrong-password-here' },
      cwd: cwd.path,
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain("hint: ADYEN_BASIC_AUTH does not match the service's")
  })

  it('with another HMAC key: exit 1, 400, check ADYEN_HMAC_KEY on both sides', async () => {
    const result = await run(['adyen', 'CAPTURE', '--url', svc.url, '--json'], {
      env: { ADYEN_HMAC_KEY: randomHexKey() },
      cwd: cwd.path,
    })
    expect(result.code).toBe(1)
    const report = result.json<JsonReport>()
    expect(report.deliveries[0]?.status).toBe(400)
    expect(report.advice[0]).toContain(
      '`send` signed with ADYEN_HMAC_KEY from the environment; check ADYEN_HMAC_KEY on both sides',
    )
  })

  it('uses the first key of a rotation list, and the dev key when none is set', async () => {
    const list = await run(['adyen', 'CAPTURE', '--url', svc.url], {
      env: { ADYEN_HMAC_KEY: `${KEY},${randomHexKey()}` },
      cwd: cwd.path,
    })
    expect(list.code).toBe(0)

    const dir = scratchCwd()
    const dev = writeDevSecrets(dir.path)
    const devSvc = await startTestService({ env: { ADYEN_HMAC_KEY: dev.adyen.hmacKey } })
    try {
      const result = await run(['adyen', 'CAPTURE', '--url', devSvc.url], {
        cwd: dir.path,
        secrets: devSecretValues(dev),
      })
      expect(result.code).toBe(0)
      expect(result.stdout).toContain('signed with the dev secrets in ./data/dev-secrets.json')
    } finally {
      await devSvc.dispose()
      dir.remove()
    }
  })

  it('with no key: exit 1 and how to get one; a malformed key is named, never shown', async () => {
    const none = await run(['adyen', 'CAPTURE', '--url', svc.url], { cwd: cwd.path })
    expect(none.code).toBe(1)
    expect(none.stderr).toContain('no Adyen HMAC key: set ADYEN_HMAC_KEY')
    expect(none.stderr).toContain('`npm run dev`')

    const bad = await run(['adyen', 'CAPTURE', '--url', svc.url], {
      env: { ADYEN_HMAC_KEY: 'not-hex-but-a-secret-anyway' },
      cwd: cwd.path,
    })
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('the first key of ADYEN_HMAC_KEY is not an even-length hex string')
  })

  it('to a service without Adyen: exit 1, 404, set ADYEN_HMAC_KEY on the service', async () => {
    const bare = await startTestService()
    try {
      const result = await run(['adyen', 'CAPTURE', '--url', bare.url], { env, cwd: cwd.path })
      expect(result.code).toBe(1)
      expect(result.stdout).toContain('404  {"error":"adyen is not configured"}')
      expect(result.stderr).toContain(
        'hint: the service has no Adyen HMAC key: set ADYEN_HMAC_KEY on the service',
      )
    } finally {
      await bare.dispose()
    }
  })
})
