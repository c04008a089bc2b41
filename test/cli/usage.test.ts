import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { STRIPE_SECRET } from '../support/stripe-signing.ts'
import { PROJECT_ROOT } from '../support/temp-dir.ts'
import { startTestService, type TestService } from '../support/test-service.ts'
import { run, scratchCwd } from './cli-helpers.ts'

const exec = promisify(execFile)

describe('hookinbox send: usage, --list and exit codes', () => {
  const cwd = scratchCwd()
  afterAll(() => cwd.remove())
  const send = (...args: string[]) => run(args, { cwd: cwd.path })

  it('--list prints every built-in event per provider', async () => {
    const result = await send('--list')
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('stripe (11 events)\n  charge.dispute.created\n')
    expect(result.stdout).toContain('paypal (10 events)')
    expect(result.stdout).toContain('  BILLING.SUBSCRIPTION.PAYMENT.FAILED\n')
    expect(result.stdout).toContain('adyen (10 events)')
    expect(result.stdout).toContain('  PAYOUT_THIRDPARTY\n')
  })

  it('--list with a provider, and as JSON', async () => {
    const adyen = await send('adyen', '--list')
    expect(adyen.stdout).toContain('adyen (10 events)')
    expect(adyen.stdout).not.toContain('stripe')
    const json = (await send('--list', '--json')).json<Record<string, string[]>>()
    expect(Object.keys(json)).toEqual(['stripe', 'paypal', 'adyen'])
    expect(json.stripe).toContain('payment_intent.succeeded')
    expect(json.paypal).toContain('PAYMENT.CAPTURE.COMPLETED')
    expect(json.adyen).toContain('CHARGEBACK_REVERSED')
  })

  it('--help prints the usage and exits 0', async () => {
    const result = await send('--help')
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('Usage: hookinbox send <stripe|paypal|adyen> <event-type> [options]')
  })

  it.each([
    [[], 'which provider?'],
    [['square', 'payment.created'], 'unknown provider "square": choose one of stripe, paypal, adyen'],
    [['stripe'], 'which event? e.g. hookinbox send stripe <event-type>'],
    [
      ['stripe', 'charge.succeded'],
      'no built-in stripe event "charge.succeded". Did you mean charge.succeeded?',
    ],
    [['stripe', 'a', 'b'], 'unexpected argument "b"'],
    [
      ['stripe', 'charge.succeeded', '--repeat', '0'],
      '--repeat must be a whole number from 1 to 100000, not "0"',
    ],
    [['stripe', 'charge.succeeded', '--concurrency', 'many'], '--concurrency must be a whole number'],
    [['stripe', 'charge.succeeded', '--url', 'localhost:3000'], '--url must start with http:// or https://'],
    [['stripe', 'charge.succeeded', '--url', 'not a url'], '--url "not a url" is not a URL'],
    [['stripe', 'charge.succeeded', '--bogus'], "Unknown option '--bogus'"],
    [['stripe', 'charge.succeeded', '--file', 'x.json'], 'give either an event type or --file, not both'],
    [['stripe', 'charge.succeeded', '--fresh-id'], '--fresh-id only applies to --file'],
    [['adyen', 'AUTHORISATION', '--live'], '--live is for Stripe events'],
    [['stripe', '--file', 'x.json', '--live'], '--live only applies to built-in events'],
    [['stripe', '--file', 'missing.json'], 'missing.json: no such file'],
  ])('%j is a usage error (exit 2): %s', async (args, message) => {
    const result = await send(...args)
    expect(result.code).toBe(2)
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain(`error: ${message}`)
    expect(result.stderr).toContain('Run with --help for usage.')
  })

  it('a usage error in --json mode is one JSON document on stdout', async () => {
    const result = await send('stripe', 'nope', '--json')
    expect(result.code).toBe(2)
    expect(result.json()).toMatchObject({ ok: false, error: { kind: 'usage' } })
    expect(result.stderr).toBe('')
  })

  it('a --file that is not JSON, or not an object, is a usage error', async () => {
    const bad = join(cwd.path, 'bad.json')
    writeFileSync(bad, '{"id": ')
    expect((await send('stripe', '--file', bad)).stderr).toContain('bad.json is not valid JSON')
    writeFileSync(bad, '[1, 2]')
    expect((await send('paypal', '--file', bad)).stderr).toContain('must hold one JSON object')
    writeFileSync(bad, '{"hello": "world"}')
    const adyen = await send('adyen', '--file', bad)
    expect(adyen.code).toBe(2)
    expect(adyen.stderr).toContain('not an Adyen notification')
  })

  it('matches event types case-insensitively', async () => {
    const result = await run(['paypal', 'payment.capture.completed', '--url', 'http://127.0.0.1:9'], {
      cwd: cwd.path,
    })
    // No dev secrets in this folder: it gets past the event type and stops at the signing key.
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('development key')
  })
})

describe('the hookinbox bin and the npm script, as real processes', () => {
  let svc: TestService
  beforeAll(async () => {
    svc = await startTestService()
  })
  afterAll(() => svc.dispose())

  const childEnv = { PATH: process.env.PATH ?? '', STRIPE_WEBHOOK_SECRET: STRIPE_SECRET }

  it('hookinbox send stripe … delivers and exits 0', async () => {
    const { stdout } = await exec(
      process.execPath,
      ['src/cli/bin.mjs', 'send', 'stripe', 'customer.subscription.created', '--url', svc.url],
      { cwd: PROJECT_ROOT, env: childEnv },
    )
    expect(stdout).toContain('1 delivery: 1 × 200 · 1 ignored')
    expect(stdout).not.toContain(STRIPE_SECRET)
  })

  it('node --import tsx src/cli/send.ts (npm run send) runs main and sets the exit code', async () => {
    const ok = await exec(
      process.execPath,
      ['--import', 'tsx', 'src/cli/send.ts', 'stripe', 'invoice.paid', '--url', svc.url, '--json'],
      { cwd: PROJECT_ROOT, env: childEnv },
    )
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, type: 'invoice.paid' })
    const failed = await exec(process.execPath, ['--import', 'tsx', 'src/cli/send.ts', 'stripe'], {
      cwd: PROJECT_ROOT,
      env: childEnv,
    }).catch((err: { code: number; stderr: string }) => err)
    expect(failed).toMatchObject({ code: 2 })
  })

  it('an unknown subcommand exits 2 with the usage', async () => {
    const err = await exec(process.execPath, ['src/cli/bin.mjs', 'receive'], {
      cwd: PROJECT_ROOT,
      env: childEnv,
    }).catch((e: { code: number; stderr: string }) => e)
    expect(err).toMatchObject({ code: 2 })
    expect((err as { stderr: string }).stderr).toContain('unknown command "receive"')
  })
})
