import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, ENV_VARIABLES, loadEnv, parseConfig } from '../../src/config.ts'
import { runServer } from '../support/spawn-service.ts'
import { PROJECT_ROOT, tempDir } from '../support/temp-dir.ts'

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = parseConfig({})
    expect(c).toMatchObject({
      port: 3000,
      host: '0.0.0.0',
      database: { kind: 'sqlite', path: './data/hookinbox.db', synchronous: 'FULL', duplicateCache: 20_000 },
      handlersDir: './handlers',
      stripe: undefined,
      maxBodyBytes: 1_048_576,
      handlerTimeoutMs: 10_000,
      keepAliveTimeoutMs: 620_000,
      maxAttempts: 5,
      adminToken: undefined,
      logLevel: 'info',
    })
  })

  it('documents every variable it reads in .env.example and in the README, and no other', () => {
    const example = readFileSync(join(PROJECT_ROOT, '.env.example'), 'utf8')
    const inExample = [...example.matchAll(/^#? ?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1])
    const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8')
    const table = readme.slice(readme.indexOf('## Configuration'), readme.indexOf('## Operating it'))
    const inReadme = table
      .split('\n')
      .filter((line) => line.startsWith('| `'))
      .flatMap((line) => [...(line.split(' | ')[0] ?? '').matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((m) => m[1]))
    expect([...new Set(inExample)].sort()).toEqual([...ENV_VARIABLES].sort())
    // NODE_EXTRA_CA_CERTS is Node's own, listed for the PayPal certificate downloads.
    expect(inReadme.filter((name) => name !== 'NODE_EXTRA_CA_CERTS').sort()).toEqual(
      [...ENV_VARIABLES].sort(),
    )
  })

  it('reads comma-separated Stripe secrets for rotation and a file: URL for the database', () => {
    const c = parseConfig({
      STRIPE_WEBHOOK_SECRET: 'whsec_a, whsec_b',
      STRIPE_TOLERANCE_SECONDS: '60',
      DATABASE_URL: 'file:/var/lib/hookinbox/events.db',
    })
    expect(c.stripe).toEqual({ secrets: ['whsec_a', 'whsec_b'], toleranceSeconds: 60, testEvents: 'run' })
    expect(
      parseConfig({ STRIPE_WEBHOOK_SECRET: 'whsec_a', STRIPE_TEST_EVENTS: 'skip' }).stripe?.testEvents,
    ).toBe('skip')
    expect(c.database).toMatchObject({ kind: 'sqlite', path: '/var/lib/hookinbox/events.db' })
  })

  it('reads PayPal api mode, with http allowed for a loopback API only, and the transmission age', () => {
    const c = parseConfig({
      PAYPAL_WEBHOOK_ID: 'ABC',
      PAYPAL_VERIFY: 'api',
      PAYPAL_CLIENT_ID: 'client',
      PAYPAL_CLIENT_SECRET: 'secret',
      PAYPAL_API_BASE: 'http://127.0.0.1:4010/',
      PAYPAL_MAX_TRANSMISSION_AGE_DAYS: '3',
    })
    expect(c.paypal).toMatchObject({
      mode: 'api',
      api: { baseUrl: 'http://127.0.0.1:4010' },
      maxTransmissionAgeDays: 3,
    })
  })

  it('reads several comma-separated PayPal webhook ids, in order, whitespace around them trimmed', () => {
    expect(parseConfig({ PAYPAL_WEBHOOK_ID: ' 8PT597110X687430L ' }).paypal?.webhookIds).toEqual([
      '8PT597110X687430L',
    ])
    const c = parseConfig({ PAYPAL_WEBHOOK_ID: '8PT597110X687430L , 5GP028458E2496506' })
    expect(c.paypal).toMatchObject({
      webhookIds: ['8PT597110X687430L', '5GP028458E2496506'],
      mode: 'offline',
    })
  })

  const bad: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'eighty' }, /PORT: must be a whole number/],
    [{ PORT: '70000' }, /PORT/],
    [{ MAX_ATTEMPTS: '0' }, /MAX_ATTEMPTS/],
    [{ HANDLER_TIMEOUT_MS: '-1' }, /HANDLER_TIMEOUT_MS/],
    [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL/],
    [{ SQLITE_SYNCHRONOUS: 'OFF' }, /SQLITE_SYNCHRONOUS/],
    [{ STRIPE_TEST_EVENTS: 'ignore' }, /STRIPE_TEST_EVENTS/],
    [{ SQLITE_DUPLICATE_CACHE: '-5' }, /SQLITE_DUPLICATE_CACHE/],
    [{ SQLITE_DUPLICATE_CACHE: 'lots' }, /SQLITE_DUPLICATE_CACHE/],
    [{ ADYEN_HMAC_KEY: 'not-hex-secret-value' }, /ADYEN_HMAC_KEY: key #1 is not an even-length hex string/],
    [{ ADMIN_TOKEN: 'short-secret' }, /ADMIN_TOKEN: must be at least 16 characters/],
    [
      { ADYEN_HMAC_KEY: 'ab12', ADYEN_BASIC_AUTH_PREVIOUS: 'adyen:old-password' },
      /ADYEN_BASIC_AUTH_PREVIOUS is set but ADYEN_BASIC_AUTH \(the new credentials\) is not/,
    ],
    [
      { ADYEN_HMAC_KEY: 'ab12', ADYEN_BASIC_AUTH: 'adyen:pw', ADYEN_BASIC_AUTH_PREVIOUS: 'adyen:pw' },
      /ADYEN_BASIC_AUTH_PREVIOUS is the same as ADYEN_BASIC_AUTH/,
    ],
    [
      { ADYEN_HMAC_KEY: 'ab12', ADYEN_BASIC_AUTH: 'adyen:pw', ADYEN_BASIC_AUTH_PREVIOUS: 'no-colon' },
      /ADYEN_BASIC_AUTH_PREVIOUS: must be user:password/,
    ],
    [{ PAYPAL_WEBHOOK_ID: 'ABC', PAYPAL_VERIFY: 'api' }, /PAYPAL_CLIENT_ID/],
    [
      { PAYPAL_WEBHOOK_ID: 'WH1234567890ABCDEF', PAYPAL_MAX_TRANSMISSION_AGE_DAYS: '500' },
      /PAYPAL_MAX_TRANSMISSION_AGE_DAYS must be at most DEDUP_KEEP_DAYS/,
    ],
    [
      { PAYPAL_WEBHOOK_ID: 'WH1234567890ABCDEF', RETENTION_DAYS: '1', DEDUP_KEEP_DAYS: '2' },
      /PAYPAL_MAX_TRANSMISSION_AGE_DAYS must be at most DEDUP_KEEP_DAYS/,
    ],
    [{ PAYPAL_MAX_TRANSMISSION_AGE_DAYS: '0' }, /PAYPAL_MAX_TRANSMISSION_AGE_DAYS/],
    [{ PAYPAL_WEBHOOK_ID: '8PT597110X687430L,' }, /PAYPAL_WEBHOOK_ID: item 2 is empty/],
    [{ PAYPAL_WEBHOOK_ID: 'A1,A2,A3,A4,A5,A6' }, /PAYPAL_WEBHOOK_ID: at most 5 webhook ids \(6 given\)/],
    [{ PAYPAL_WEBHOOK_ID: ' , 8PT597110X687430L' }, /PAYPAL_WEBHOOK_ID: item 1 is empty/],
    [{ PAYPAL_WEBHOOK_ID: '8PT597110X687430L,,5GP028458E2496506' }, /PAYPAL_WEBHOOK_ID: item 2 is empty/],
    [
      { PAYPAL_WEBHOOK_ID: '8PT597110X687430L,5GP028458E2496506, 8PT597110X687430L' },
      /PAYPAL_WEBHOOK_ID: item 3 repeats item 1/,
    ],
    [
      { PAYPAL_WEBHOOK_ID: '8PT597110X687430L, WEBHOOK_ID' },
      /PAYPAL_WEBHOOK_ID: item 2 is the simulator's placeholder/,
    ],
    [
      { PAYPAL_WEBHOOK_ID: '8PT597110X687430L,WH-5GP028458E' },
      /PAYPAL_WEBHOOK_ID: item 2 must be the alphanumeric webhook id/,
    ],
    [
      {
        PAYPAL_WEBHOOK_ID: '8PT597110X687430L,5GP028458E2496506',
        PAYPAL_VERIFY: 'api',
        PAYPAL_CLIENT_ID: 'client',
        PAYPAL_CLIENT_SECRET: 'secret',
      },
      /PAYPAL_WEBHOOK_ID: PAYPAL_VERIFY=api verifies with one webhook id; for several, use PAYPAL_VERIFY=offline/,
    ],
    [{ PAYPAL_API_BASE: 'http://api-m.paypal.com' }, /PAYPAL_API_BASE: must use https/],
    // Every PayPal delivery logged fetch's refusal of such a URL at warn, quoting it with the credentials.
    [
      { PAYPAL_API_BASE: 'https://client-id:client-secret-in-url@api-m.paypal.com' },
      /PAYPAL_API_BASE: must not hold credentials/,
    ],
    [
      { PAYPAL_API_BASE: 'https://client-secret-in-url@api-m.paypal.com/' },
      /PAYPAL_API_BASE: must not hold credentials/,
    ],
  ]
  it('takes short retention when PayPal is not configured (no transmission to keep bound)', () => {
    const c = parseConfig({ RETENTION_DAYS: '1', DEDUP_KEEP_DAYS: '2' })
    expect(c.retention).toEqual({ days: 1, dedupKeepDays: 2 })
  })

  it("refuses PayPal's simulator placeholder as the webhook id, saying why", () => {
    expect(() => parseConfig({ PAYPAL_WEBHOOK_ID: 'WEBHOOK_ID' })).toThrow(
      /PAYPAL_WEBHOOK_ID: is the simulator's placeholder, which anyone's simulator events verify under/,
    )
  })

  for (const [env, message] of bad) {
    it(`refuses ${JSON.stringify(env)} with a message naming the variable and never its value`, () => {
      let err: unknown
      try {
        parseConfig(env)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(ConfigError)
      expect((err as Error).message).toMatch(message)
      for (const value of Object.values(env)) {
        if (value.length > 5) expect((err as Error).message).not.toContain(value)
      }
    })
  }

  it('takes the previous Adyen Basic credentials beside the new ones (a password change)', () => {
    const c = parseConfig({
      ADYEN_HMAC_KEY: 'ab12',
      ADYEN_BASIC_AUTH: 'adyen:new:pass word',
      ADYEN_BASIC_AUTH_PREVIOUS: 'adyen:old',
    })
    expect(c.adyen?.basicAuth).toEqual({ user: 'adyen', password: 'new:pass word' })
    expect(c.adyen?.previousBasicAuth).toEqual({ user: 'adyen', password: 'old' })
    expect(parseConfig({ ADYEN_HMAC_KEY: 'ab12' }).adyen?.previousBasicAuth).toBeUndefined()
  })

  it('takes values from .env in the working directory, and the environment wins', () => {
    const dir = tempDir('env')
    try {
      writeFileSync(
        join(dir.path, '.env'),
        '# comment\nPORT=4100\nLOG_LEVEL=debug\nSTRIPE_WEBHOOK_SECRET="whsec_file"\n',
      )
      const env = loadEnv({ LOG_LEVEL: 'warn' }, dir.path)
      const c = parseConfig(env)
      expect(c.port).toBe(4100)
      expect(c.logLevel).toBe('warn')
      expect(c.stripe?.secrets).toEqual(['whsec_file'])
    } finally {
      dir.remove()
    }
  })

  it('a bad value stops the real process before it listens, with exit code 78', async () => {
    const run = runServer({ PORT: 'nope', ADMIN_TOKEN: 'tiny' })
    const { code } = await run.exited
    expect(code).toBe(78)
    expect(run.output()).toMatch(/PORT: must be a whole number/)
    expect(run.output()).toMatch(/ADMIN_TOKEN/)
    expect(run.output()).not.toContain('tiny')
  })
})
