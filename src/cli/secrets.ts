/**
 * Where `send` finds the secrets to sign with: the same environment and `.env` file the service reads
 * (environment first), else the development secrets `npm run dev` keeps next to the database. Only the
 * variables `send` needs are read, so an unrelated bad value (say, a short ADMIN_TOKEN) never stops it.
 * Nothing here ever puts a secret into a message.
 */
import { isAbsolute, relative, resolve } from 'node:path'
import { loadEnv, sqlitePath } from '../config.ts'
import { type DevSecrets, DevSecretsUnusable, devSecretsPath, readDevSecrets } from '../dev/dev-secrets.ts'

export interface Settings {
  /** The merged environment (process environment over `.env`), empty values dropped. */
  vars: Record<string, string>
  /** Which variables came from the process environment rather than `.env`. */
  fromProcess: ReadonlySet<string>
  /** The dev secrets file for this DATABASE_URL, as the user would type it (relative to cwd when inside). */
  devPath: string
  dev: DevSecrets | undefined
  /** Why the dev secrets file exists but cannot be used. */
  devProblem: string | undefined
  defaultUrl: string
}

const shown = (cwd: string, absolute: string) => {
  const rel = relative(cwd, absolute)
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? `./${rel}` : absolute
}

export function readSettings(env: Record<string, string | undefined>, cwd: string): Settings {
  const vars = loadEnv(env as NodeJS.ProcessEnv, cwd)
  const fromProcess = new Set(Object.keys(env).filter((k) => env[k] !== undefined && env[k] !== ''))
  const absolute = resolve(cwd, devSecretsPath(sqlitePath(vars.DATABASE_URL?.trim())))
  const devPath = shown(cwd, absolute)

  let dev: DevSecrets | undefined
  let devProblem: string | undefined
  try {
    dev = readDevSecrets(absolute, devPath)
  } catch (err) {
    if (!(err instanceof DevSecretsUnusable)) throw err
    devProblem = err.message
  }

  const port = vars.PORT?.trim()
  const defaultUrl = `http://localhost:${port && /^\d+$/.test(port) && port !== '0' ? Number(port) : 3000}`
  return { vars, fromProcess, devPath, dev, devProblem, defaultUrl }
}

/** Where a signing secret came from, for messages ("STRIPE_WEBHOOK_SECRET from .env"). Never the value. */
export interface SecretOrigin {
  kind: 'env' | 'dev'
  text: string
}

const envOrigin = (settings: Settings, name: string): SecretOrigin => ({
  kind: 'env',
  text: `${name} from ${settings.fromProcess.has(name) ? 'the environment' : '.env'}`,
})
const devOrigin = (settings: Settings): SecretOrigin => ({
  kind: 'dev',
  text: `the dev secrets in ${settings.devPath}`,
})

export type Resolved<T> = { ok: true; value: T; origin: SecretOrigin } | { ok: false; problem: string }

const firstOfList = (csv: string | undefined) =>
  csv
    ?.split(',')
    .map((s) => s.trim())
    .find((s) => s.length > 0)

const devUnusable = (settings: Settings) => (settings.devProblem ? ` (${settings.devProblem})` : '')

export function stripeSecret(settings: Settings): Resolved<string> {
  const secret = firstOfList(settings.vars.STRIPE_WEBHOOK_SECRET)
  if (secret) return { ok: true, value: secret, origin: envOrigin(settings, 'STRIPE_WEBHOOK_SECRET') }
  if (settings.dev) return { ok: true, value: settings.dev.stripe.webhookSecret, origin: devOrigin(settings) }
  return {
    ok: false,
    problem:
      "no Stripe signing secret: set STRIPE_WEBHOOK_SECRET to the endpoint's signing secret (whsec_…), " +
      `or run \`npm run dev\`, which makes one in ${settings.devPath}${devUnusable(settings)}`,
  }
}

export interface AdyenCredentials {
  hmacKey: Buffer
  basicAuth: string | undefined
}

export function adyenCredentials(settings: Settings): Resolved<AdyenCredentials> {
  const auth = settings.vars.ADYEN_BASIC_AUTH
  if (auth !== undefined && !/^[^:]+:.+$/.test(auth)) {
    return { ok: false, problem: 'ADYEN_BASIC_AUTH must be user:password' }
  }
  const hex = firstOfList(settings.vars.ADYEN_HMAC_KEY)
  if (hex !== undefined) {
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(hex)) {
      return {
        ok: false,
        problem: `the first key of ADYEN_HMAC_KEY is not an even-length hex string (${hex.length} characters): copy the HMAC key from the Adyen Customer Area`,
      }
    }
    return {
      ok: true,
      value: { hmacKey: Buffer.from(hex, 'hex'), basicAuth: auth },
      origin: envOrigin(settings, 'ADYEN_HMAC_KEY'),
    }
  }
  if (settings.dev && /^(?:[0-9a-fA-F]{2})+$/.test(settings.dev.adyen.hmacKey)) {
    return {
      ok: true,
      value: { hmacKey: Buffer.from(settings.dev.adyen.hmacKey, 'hex'), basicAuth: auth },
      origin: devOrigin(settings),
    }
  }
  return {
    ok: false,
    problem:
      'no Adyen HMAC key: set ADYEN_HMAC_KEY to the hex HMAC key of the webhook (Adyen Customer Area), ' +
      `or run \`npm run dev\`, which makes one in ${settings.devPath}${devUnusable(settings)}`,
  }
}

export interface PaypalSigningKey {
  webhookId: string
  certUrl: string
  privateKeyPem: string
  publicKeyPem: string
}

/**
 * PayPal signs with its own private key, which nobody else has: a local delivery can only be signed with the
 * development key pair, which the service trusts in development mode. The webhook id, part of the signed
 * message, follows the usual rule (PAYPAL_WEBHOOK_ID first, its first id when it lists several, as the
 * service does).
 */
export function paypalSigningKey(settings: Settings): Resolved<PaypalSigningKey> {
  const dev = settings.dev
  if (!dev) {
    return {
      ok: false,
      problem:
        "PayPal deliveries can only be signed with hookinbox's development key (only PayPal holds PayPal's " +
        `private key), and there is none in ${settings.devPath}${devUnusable(settings)}: run \`npm run dev\` once ` +
        'in this folder; it makes the key, and the service trusts it in development mode',
    }
  }
  // The first of a list, as the service verifies under any of them (STRIPE_WEBHOOK_SECRET alike).
  const fromEnv = firstOfList(settings.vars.PAYPAL_WEBHOOK_ID)
  const webhookId = fromEnv ?? dev.paypal.webhookId
  return {
    ok: true,
    value: {
      webhookId,
      certUrl: dev.paypal.certUrl,
      privateKeyPem: dev.paypal.privateKeyPem,
      publicKeyPem: dev.paypal.publicKeyPem,
    },
    origin: {
      kind: 'dev',
      text: fromEnv
        ? `the development key in ${settings.devPath} and ${envOrigin(settings, 'PAYPAL_WEBHOOK_ID').text}`
        : `the development key and webhook id in ${settings.devPath}`,
    },
  }
}
