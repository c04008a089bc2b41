/**
 * The environment, parsed and validated in one place. Values come from `process.env`, falling back to a
 * `.env` file in the working directory (the environment wins). A bad value stops start-up with a message
 * that names the variable but never echoes a secret.
 */
import { existsSync, readFileSync } from 'node:fs'
import { parseEnv } from 'node:util'
import { z } from 'zod'

const intIn = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max))

const csvList = z.string().transform((s) =>
  s
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0),
)

const optionalSecretList = z
  .string()
  .optional()
  .transform((s) => (s === undefined ? [] : csvList.parse(s)))

const hexKeyList = optionalSecretList.superRefine((keys, ctx) => {
  for (const [i, key] of keys.entries()) {
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(key)) {
      ctx.addIssue({ code: 'custom', message: `key #${i + 1} is not an even-length hex string` })
    }
  }
})

/** What is wrong with one PayPal webhook id, or undefined; `earlier` are the ids before it in the list. */
function webhookIdProblem(id: string, earlier: readonly string[]): string | undefined {
  if (id === '') return 'is empty (a stray comma?)'
  // PayPal's simulator signs mock events with this placeholder, and anyone can aim the simulator at any URL.
  if (id === 'WEBHOOK_ID')
    return "is the simulator's placeholder, which anyone's simulator events verify under; use your webhook's id"
  if (!/^[A-Za-z0-9]+$/.test(id)) return 'must be the alphanumeric webhook id PayPal shows'
  const first = earlier.indexOf(id)
  if (first !== -1) return `repeats item ${first + 1}`
  return undefined
}

const MAX_PAYPAL_WEBHOOK_IDS = 5

/**
 * One webhook id, or several comma-separated: each PayPal webhook (one per REST app, and a new one when a
 * webhook is re-created) signs with its own id. Problems name the item by position, never by value.
 */
const paypalWebhookIds = z.string().transform((value, ctx) => {
  const ids = value.split(',').map((id) => id.trim())
  // A forged delivery under a genuine certificate costs one RSA check per id: a rotation needs two.
  if (ids.length > MAX_PAYPAL_WEBHOOK_IDS)
    ctx.addIssue({
      code: 'custom',
      message: `at most ${MAX_PAYPAL_WEBHOOK_IDS} webhook ids (${ids.length} given)`,
    })
  for (const [i, id] of ids.entries()) {
    const problem = webhookIdProblem(id, ids.slice(0, i))
    if (problem)
      ctx.addIssue({ code: 'custom', message: ids.length > 1 ? `item ${i + 1} ${problem}` : problem })
  }
  return ids
})

const basicCredentials = z
  .string()
  .regex(/^[^:]+:.+$/, 'must be user:password')
  .transform((value) => {
    const colon = value.indexOf(':')
    return { user: value.slice(0, colon), password: value.slice(colon + 1) }
  })
  .optional()

export const DEFAULT_DATABASE_URL = './data/hookinbox.db'

const EnvSchema = z.object({
  PORT: intIn(0, 65535).default(3000),
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  DATABASE_URL: z.string().trim().min(1).default(DEFAULT_DATABASE_URL),
  DATABASE_POOL_SIZE: intIn(1, 1000).default(10),
  SQLITE_SYNCHRONOUS: z.enum(['FULL', 'NORMAL']).default('FULL'),
  SQLITE_DUPLICATE_CACHE: intIn(0, 1_000_000).default(20_000),
  HANDLERS_DIR: z.string().trim().min(1).default('./handlers'),
  STRIPE_WEBHOOK_SECRET: optionalSecretList,
  STRIPE_TOLERANCE_SECONDS: intIn(1, 86_400).default(300),
  STRIPE_TEST_EVENTS: z.enum(['run', 'skip']).default('run'),
  PAYPAL_WEBHOOK_ID: paypalWebhookIds.optional(),
  PAYPAL_VERIFY: z.enum(['offline', 'api']).default('offline'),
  PAYPAL_CERT_HOSTS: csvList.default([
    'api.paypal.com',
    'api-m.paypal.com',
    'api.sandbox.paypal.com',
    'api-m.sandbox.paypal.com',
  ]),
  PAYPAL_API_BASE: z
    .url({ protocol: /^https?$/ })
    // The client secret goes to it: plain http only to this machine (a local fake of PayPal's API in tests).
    .refine(
      (url) =>
        url.startsWith('https:') || /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?(\/|$)/.test(url),
      {
        message: 'must use https (http only for a loopback host)',
      },
    )
    // fetch refuses such a URL, and its error (logged with every 503) would quote the URL, credentials and all.
    .refine((url) => !/^[a-z]+:\/\/[^/?#]*@/i.test(url), {
      message: 'must not hold credentials: give them as PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET',
    })
    .default('https://api-m.paypal.com'),
  PAYPAL_CLIENT_ID: z.string().trim().min(1).optional(),
  PAYPAL_CLIENT_SECRET: z.string().trim().min(1).optional(),
  PAYPAL_MAX_TRANSMISSION_AGE_DAYS: intIn(1, 36_500).default(4),
  ADYEN_HMAC_KEY: hexKeyList,
  ADYEN_BASIC_AUTH: basicCredentials,
  ADYEN_BASIC_AUTH_PREVIOUS: basicCredentials,
  MAX_BODY_BYTES: intIn(1024, 100 * 1024 * 1024).default(1_048_576),
  MAX_PENDING_DELIVERIES: intIn(1, 1_000_000).default(2000),
  MAX_PENDING_BYTES: intIn(1024, 4 * 1024 * 1024 * 1024).default(32 * 1024 * 1024),
  HANDLER_TIMEOUT_MS: intIn(1, 600_000).default(10_000),
  KEEP_ALIVE_TIMEOUT_MS: intIn(1000, 7_200_000).default(620_000),
  MAX_ATTEMPTS: intIn(1, 1000).default(5),
  RETENTION_DAYS: intIn(1, 36_500).default(45),
  DEDUP_KEEP_DAYS: intIn(1, 36_500).default(400),
  ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
})

export type Env = z.infer<typeof EnvSchema>

/** Every variable the configuration reads (README.md and .env.example document each one). */
export const ENV_VARIABLES: readonly string[] = Object.keys(EnvSchema.shape)

export interface Config {
  port: number
  host: string
  database:
    | { kind: 'sqlite'; path: string; synchronous: 'FULL' | 'NORMAL'; duplicateCache: number }
    | { kind: 'postgres'; url: string; poolSize: number }
  handlersDir: string
  stripe: { secrets: string[]; toleranceSeconds: number; testEvents: 'run' | 'skip' } | undefined
  paypal:
    | {
        /** One or more (offline mode only); a delivery is verified under any of them. */
        webhookIds: string[]
        mode: 'offline' | 'api'
        certHosts: string[]
        api: { baseUrl: string; clientId: string; clientSecret: string } | undefined
        /** Transmissions signed longer ago are refused (PayPal retries for 3 days). */
        maxTransmissionAgeDays: number
      }
    | undefined
  adyen:
    | {
        hmacKeys: Buffer[]
        basicAuth: { user: string; password: string } | undefined
        /** Also accepted while Adyen switches to `basicAuth` (a password change). */
        previousBasicAuth: { user: string; password: string } | undefined
      }
    | undefined
  maxBodyBytes: number
  /** Verified deliveries (and their body bytes) held at once; past either, 503 (see src/webhooks/admission.ts). */
  pending: { maxDeliveries: number; maxBytes: number }
  handlerTimeoutMs: number
  /**
   * How long an idle keep-alive connection is kept open. Longer than the idle timeout of a load balancer or
   * proxy in front, so that the proxy, never this side, closes an idle connection: closed here first, a
   * request the proxy sends on it at that moment meets a reset, which the proxy answers 502. The default
   * (620 s) is above the usual ones: 60 s (AWS's load balancers, nginx), 120 s (Caddy), 600 s (Google
   * Cloud's load balancers, fixed). Behind a pooling proxy, what it costs is a few idle sockets.
   */
  keepAliveTimeoutMs: number
  maxAttempts: number
  retention: { days: number; dedupKeepDays: number }
  adminToken: string | undefined
  metricsToken: string | undefined
  logLevel: Env['LOG_LEVEL']
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`)
    this.name = 'ConfigError'
  }
}

/** Reads `.env` from `dir` if present; the variables already in `env` win. Empty values count as unset. */
export function loadEnv(env: NodeJS.ProcessEnv = process.env, dir = process.cwd()): Record<string, string> {
  const file = `${dir}/.env`
  const fromFile = existsSync(file) ? parseEnv(readFileSync(file, 'utf8')) : {}
  const merged: Record<string, string> = {}
  for (const [key, value] of Object.entries({ ...fromFile, ...env })) {
    if (value !== undefined && value !== '') merged[key] = value
  }
  return merged
}

/** A PostgreSQL URL: `postgres://` or `postgresql://`, the scheme in any case (node-postgres reads them so). */
export const isPostgresUrl = (url: string): boolean => /^postgres(ql)?:\/\//i.test(url.trim())

/**
 * A DATABASE_URL that is a URL but neither PostgreSQL's nor SQLite's `file:`: another scheme or a mistyped one
 * (`mysql://…`, `postgresql:/…`), or credentials without a scheme (`app:secret@db/hookinbox`). Taken as an
 * SQLite path, it would name folders after the password and show it in the start-up log.
 */
export function isUnsupportedDatabaseUrl(url: string): boolean {
  const value = url.trim()
  if (isPostgresUrl(value) || value.startsWith('file:')) return false
  // Two letters at least, so a Windows drive (`C:/data/hookinbox.db`) stays a path.
  return /^[a-z][a-z0-9+.-]+:\//i.test(value) || /^[^/\\]*:[^/\\]*@/.test(value)
}

/**
 * The SQLite file a DATABASE_URL names (a `file:` URL or a plain path). For a PostgreSQL URL, or none, it is
 * the default file: development mode and `hookinbox send` keep their secrets beside it either way. So it is
 * for a URL that names no database hookinbox can use (the service refuses to start with one).
 */
export function sqlitePath(url: string | undefined): string {
  if (url === undefined || url.trim() === '' || isPostgresUrl(url) || isUnsupportedDatabaseUrl(url))
    return DEFAULT_DATABASE_URL
  if (url.startsWith('file:')) {
    const path = url.slice('file:'.length).replace(/^\/\/(?=\/)/, '')
    return decodeURIComponent(path.split('?')[0] ?? '')
  }
  return url
}

export function parseConfig(env: Record<string, string | undefined>): Config {
  // An empty value (`ADMIN_TOKEN=` in a .env file) means unset.
  const present = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ''),
  )
  const parsed = EnvSchema.safeParse(present)
  if (!parsed.success) {
    // zod's messages name the variable and the rule; `input` (which may be a secret) is never included.
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`))
  }
  const e = parsed.data
  const problems: string[] = []

  const postgres = isPostgresUrl(e.DATABASE_URL)
  if (isUnsupportedDatabaseUrl(e.DATABASE_URL)) {
    // The value is not shown: it may hold a password.
    problems.push(
      'DATABASE_URL: must be a postgres:// or postgresql:// URL, a file: URL or the path of the SQLite file',
    )
  }

  let paypal: Config['paypal']
  if (e.PAYPAL_WEBHOOK_ID) {
    let api: { baseUrl: string; clientId: string; clientSecret: string } | undefined
    if (e.PAYPAL_VERIFY === 'api') {
      if (e.PAYPAL_WEBHOOK_ID.length > 1) {
        // PayPal's API checks one webhook_id per call: a forged delivery would cost a call under each id.
        problems.push(
          'PAYPAL_WEBHOOK_ID: PAYPAL_VERIFY=api verifies with one webhook id; for several, use PAYPAL_VERIFY=offline (the default), which checks each without calling PayPal',
        )
      }
      if (!e.PAYPAL_CLIENT_ID || !e.PAYPAL_CLIENT_SECRET) {
        problems.push('PAYPAL_VERIFY=api needs PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET')
      } else {
        api = {
          baseUrl: e.PAYPAL_API_BASE.replace(/\/+$/, ''),
          clientId: e.PAYPAL_CLIENT_ID,
          clientSecret: e.PAYPAL_CLIENT_SECRET,
        }
      }
    }
    paypal = {
      webhookIds: e.PAYPAL_WEBHOOK_ID,
      mode: e.PAYPAL_VERIFY,
      certHosts: e.PAYPAL_CERT_HOSTS,
      api,
      maxTransmissionAgeDays: e.PAYPAL_MAX_TRANSMISSION_AGE_DAYS,
    }
  }

  if (e.ADYEN_BASIC_AUTH && e.ADYEN_HMAC_KEY.length === 0) {
    problems.push('ADYEN_BASIC_AUTH is set but ADYEN_HMAC_KEY is not: Adyen deliveries must be HMAC-verified')
  }
  if (e.ADYEN_BASIC_AUTH_PREVIOUS) {
    if (!e.ADYEN_BASIC_AUTH) {
      // Alone it would be the only credentials accepted, which is what ADYEN_BASIC_AUTH is for.
      problems.push('ADYEN_BASIC_AUTH_PREVIOUS is set but ADYEN_BASIC_AUTH (the new credentials) is not')
    } else if (
      e.ADYEN_BASIC_AUTH_PREVIOUS.user === e.ADYEN_BASIC_AUTH.user &&
      e.ADYEN_BASIC_AUTH_PREVIOUS.password === e.ADYEN_BASIC_AUTH.password
    ) {
      problems.push(
        'ADYEN_BASIC_AUTH_PREVIOUS is the same as ADYEN_BASIC_AUTH: give the new credentials in ADYEN_BASIC_AUTH',
      )
    }
  }

  if (paypal && e.PAYPAL_MAX_TRANSMISSION_AGE_DAYS > e.DEDUP_KEEP_DAYS) {
    // A transmission's binding to its body must outlive the time it is accepted for. Without PayPal there is
    // none, and a short DEDUP_KEEP_DAYS (tried out on a test install, say) must not trip on the default 4.
    problems.push('PAYPAL_MAX_TRANSMISSION_AGE_DAYS must be at most DEDUP_KEEP_DAYS')
  }
  if (e.DEDUP_KEEP_DAYS < e.RETENTION_DAYS) {
    problems.push('DEDUP_KEEP_DAYS must be at least RETENTION_DAYS (event ids outlive their payloads)')
  }

  if (problems.length > 0) throw new ConfigError(problems)

  return {
    port: e.PORT,
    host: e.HOST,
    database: postgres
      ? { kind: 'postgres', url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE }
      : {
          kind: 'sqlite',
          path: sqlitePath(e.DATABASE_URL),
          synchronous: e.SQLITE_SYNCHRONOUS,
          duplicateCache: e.SQLITE_DUPLICATE_CACHE,
        },
    handlersDir: e.HANDLERS_DIR,
    stripe:
      e.STRIPE_WEBHOOK_SECRET.length > 0
        ? {
            secrets: e.STRIPE_WEBHOOK_SECRET,
            toleranceSeconds: e.STRIPE_TOLERANCE_SECONDS,
            testEvents: e.STRIPE_TEST_EVENTS,
          }
        : undefined,
    paypal,
    adyen:
      e.ADYEN_HMAC_KEY.length > 0
        ? {
            hmacKeys: e.ADYEN_HMAC_KEY.map((k) => Buffer.from(k, 'hex')),
            basicAuth: e.ADYEN_BASIC_AUTH,
            previousBasicAuth: e.ADYEN_BASIC_AUTH && e.ADYEN_BASIC_AUTH_PREVIOUS,
          }
        : undefined,
    maxBodyBytes: e.MAX_BODY_BYTES,
    pending: { maxDeliveries: e.MAX_PENDING_DELIVERIES, maxBytes: e.MAX_PENDING_BYTES },
    handlerTimeoutMs: e.HANDLER_TIMEOUT_MS,
    keepAliveTimeoutMs: e.KEEP_ALIVE_TIMEOUT_MS,
    maxAttempts: e.MAX_ATTEMPTS,
    retention: { days: e.RETENTION_DAYS, dedupKeepDays: e.DEDUP_KEEP_DAYS },
    adminToken: e.ADMIN_TOKEN,
    metricsToken: e.METRICS_TOKEN,
    logLevel: e.LOG_LEVEL,
  }
}
