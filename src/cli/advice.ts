/**
 * Turns a failed delivery into one sentence of advice: what most likely went wrong and what to change.
 * Inputs are the answer's status and the service's error message (which never holds a secret) and where
 * `send` found its own secret; the advice names variables and files, never values.
 */
import type { ProviderName } from '../providers/provider.ts'
import type { Delivery } from './deliver.ts'
import type { Summary } from './report.ts'
import type { SecretOrigin } from './secrets.ts'

export interface AdviceContext {
  provider: ProviderName
  /** The service address, e.g. http://localhost:3000 */
  baseUrl: string
  endpoint: string
  origin: SecretOrigin
  devPath: string
  basicAuthSent: boolean
}

const SECRET_VARIABLE: Record<ProviderName, string> = {
  stripe: 'STRIPE_WEBHOOK_SECRET',
  paypal: 'PAYPAL_WEBHOOK_ID',
  adyen: 'ADYEN_HMAC_KEY',
}

/** The `error` field of the service's JSON error answer, if that is what came back. */
export function serviceError(text: string | undefined): string | undefined {
  if (!text) return undefined
  try {
    const parsed = JSON.parse(text) as { error?: unknown }
    return typeof parsed.error === 'string' ? parsed.error : undefined
  } catch {
    return undefined
  }
}

function notConfigured(ctx: AdviceContext): string {
  if (ctx.provider === 'paypal') {
    return (
      'the service does not accept PayPal deliveries: start it with `npm run dev` (development mode trusts the ' +
      'local PayPal key that `send` signs with); PAYPAL_WEBHOOK_ID alone only enables real PayPal deliveries'
    )
  }
  const variable = SECRET_VARIABLE[ctx.provider]
  return (
    `the service has no ${ctx.provider === 'stripe' ? 'Stripe signing secret' : 'Adyen HMAC key'}: set ${variable} ` +
    `on the service (the same value \`send\` uses, here ${ctx.origin.text}) and restart it, or start it with ` +
    '`npm run dev`, which configures every provider'
  )
}

function devFileHint(ctx: AdviceContext): string {
  return ctx.origin.kind === 'dev'
    ? `; ${ctx.devPath} may belong to another data folder: the service uses the file next to its DATABASE_URL, ` +
        'so run `send` in the same folder with the same DATABASE_URL'
    : ''
}

function signatureRejected(ctx: AdviceContext, message: string): string {
  if (/tolerance/i.test(message)) {
    return (
      "the service found the signature's timestamp too old: the clocks of this machine and the service's " +
      'disagree (or STRIPE_TOLERANCE_SECONDS is very small)'
    )
  }
  if (ctx.provider === 'paypal') {
    if (/CERT-URL/i.test(message)) {
      return (
        'the service refused the development certificate URL, so it is not running in development mode: ' +
        'start it with `npm run dev` (production mode only trusts PayPal’s own certificates)'
      )
    }
    if (/PayPal (reports|rejected)/i.test(message)) {
      return (
        "the service asks PayPal's API to verify deliveries (PAYPAL_VERIFY=api), and PayPal cannot know the " +
        'development key: run the service with `npm run dev` and PAYPAL_VERIFY=offline'
      )
    }
    return (
      'the service did not accept the development signature: it must run in development mode (`npm run dev`) ' +
      `from the same data folder, with the same webhook id (\`send\` used ${ctx.origin.text})${devFileHint(ctx)}`
    )
  }
  const variable = SECRET_VARIABLE[ctx.provider]
  return (
    `the signature was rejected: the service and \`send\` use different secrets. \`send\` signed with ` +
    `${ctx.origin.text}; check ${variable} on both sides${devFileHint(ctx)}`
  )
}

function forStatus(d: Delivery & { status: number }, ctx: AdviceContext): string | undefined {
  const { status } = d
  const message = serviceError(d.text) ?? ''
  if (status >= 200 && status < 300) return undefined
  if (status >= 300 && status < 400) {
    return `the service answered with a redirect (${status}), which providers count as a failure: check --url (http or https, no extra path)`
  }
  if (status === 404) {
    if (/is not configured/.test(message)) return notConfigured(ctx)
    return `${ctx.endpoint} does not exist (404): is --url (${ctx.baseUrl}) the address of hookinbox?`
  }
  if (status === 401) {
    if (ctx.provider === 'adyen') {
      return ctx.basicAuthSent
        ? "ADYEN_BASIC_AUTH does not match the service's: set the same user:password on both sides"
        : 'the service requires HTTP Basic auth for Adyen: set ADYEN_BASIC_AUTH here to the same user:password as the service'
    }
    return `the service refused the delivery as unauthorized (401${message ? `: ${message}` : ''})`
  }
  if (status === 413) {
    return (
      `the body (${d.bytes} bytes) is larger than the service accepts: raise MAX_BODY_BYTES on the service, ` +
      'or send a smaller payload'
    )
  }
  if (status === 400) {
    if (/signature|tolerance|CERT-URL|certificate|PayPal (reports|rejected)/i.test(message)) {
      return signatureRejected(ctx, message)
    }
    return `the signature was accepted but the event was refused (${message || 'no reason given'}): check the payload`
  }
  if (status === 500) {
    return (
      // Not "see the log": at the default level it has the outcome but not the handler's error (SECURITY.md).
      `a handler failed (the event is stored as failed, and a provider would retry it): its error is on the ` +
      `admin page (${ctx.baseUrl}/admin, once the service has an ADMIN_TOKEN) and in the service log at ` +
      'LOG_LEVEL=debug'
    )
  }
  if (status === 503) {
    return `the service cannot take deliveries right now (${message || 'unavailable'}): see the service log`
  }
  if (status > 500)
    return `the service failed (${status}): see the service log or the admin page (${ctx.baseUrl}/admin)`
  return `the service refused the delivery (${status}${message ? `: ${message}` : ''})`
}

export function adviceFor(d: Delivery, ctx: AdviceContext): string | undefined {
  if (d.status !== undefined) return forStatus(d as Delivery & { status: number }, ctx)
  const code = d.error?.code ?? 'FETCH_FAILED'
  if (code === 'ECONNREFUSED') {
    return `nothing is listening at ${ctx.baseUrl}: start it with \`npm run dev\` or \`npm start\` (or point --url at it)`
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return `cannot resolve the host of ${ctx.baseUrl}: check --url`
  }
  if ((code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET') && d.bytes > 1024 * 1024) {
    return (
      `the service closed the connection while a large body (${d.bytes} bytes) was being sent: it is probably ` +
      'over MAX_BODY_BYTES on the service; raise it, or send a smaller payload'
    )
  }
  if (code === 'TIMEOUT') return `no answer from ${ctx.endpoint} in time: is the service stuck? see its log`
  return `could not reach ${ctx.endpoint} (${code}): check --url and that the service is running`
}

/** Skipped events are answered 2xx, so nothing failed; but the handler the user wanted to watch did not run. */
export function skippedAdvice(summary: Summary, fromFile: boolean): string[] {
  if ((summary.recorded.skipped ?? 0) === 0) return []
  return [
    'the service answered "skipped" and ran no handler: it skips test-mode events (its STRIPE_TEST_EVENTS is ' +
      `skip); ${fromFile ? 'set "livemode": true in the file' : 'send with --live'} for a live-mode event`,
  ]
}
