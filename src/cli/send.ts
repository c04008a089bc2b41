/**
 * `hookinbox send <provider> <event-type>`: delivers a realistic event to a running hookinbox, signed exactly
 * as the provider signs it, and explains any refusal. `npm run send -- …` runs this file directly; the
 * `hookinbox` bin (bin.mjs) calls `main`. Tests call `main` with their own env, folder and output streams.
 */
import { PROVIDER_NAMES, type ProviderName } from '../providers/provider.ts'
import { runDirectly } from '../tools/run-directly.ts'
import { type AdviceContext, adviceFor, skippedAdvice } from './advice.ts'
import { parseSendArgs, type SendArgs, USAGE, UsageError } from './args.ts'
import { type Delivery, deliverAll } from './deliver.ts'
import { eventFromFile, eventFromFixture, type PreparedEvent } from './events.ts'
import { allFixtureTypes, fixtureTypes } from './fixtures.ts'
import { compactBody, formatSummary, summarize } from './report.ts'
import {
  adyenCredentials,
  paypalSigningKey,
  readSettings,
  type SecretOrigin,
  type Settings,
  stripeSecret,
} from './secrets.ts'
import type { Signer } from './signed-request.ts'

export { USAGE } from './args.ts'

export interface Output {
  write(chunk: string): unknown
}

export interface SendIO {
  /** Defaults to process.env; `.env` in `cwd` fills what it lacks, as for the service. */
  env?: Record<string, string | undefined>
  /** Where `.env` and the default data folder are looked up; defaults to process.cwd(). */
  cwd?: string
  stdout?: Output
  stderr?: Output
  now?: () => Date
}

export const EXIT_OK = 0
export const EXIT_FAILED = 1
export const EXIT_USAGE = 2

interface Prepared {
  signer: Signer
  origin: SecretOrigin
  basicAuthSent: boolean
  /** Values that must never be printed, whatever the service or a library echoes. */
  secrets: string[]
}

type Resolution = { ok: true; prepared: Prepared } | { ok: false; problem: string }

/** The signers are imported on demand: the stripe package alone costs a second of start-up. */
async function prepareSigner(event: PreparedEvent, settings: Settings): Promise<Resolution> {
  if (event.provider === 'stripe') {
    const secret = stripeSecret(settings)
    if (!secret.ok) return secret
    const { stripeSigner } = await import('./sign-stripe.ts')
    return {
      ok: true,
      prepared: {
        signer: stripeSigner(event, secret.value),
        origin: secret.origin,
        basicAuthSent: false,
        secrets: [secret.value],
      },
    }
  }
  if (event.provider === 'adyen') {
    const credentials = adyenCredentials(settings)
    if (!credentials.ok) return credentials
    const { adyenSigner } = await import('./sign-adyen.ts')
    const { hmacKey, basicAuth } = credentials.value
    const hex = hmacKey.toString('hex')
    const authSecrets = basicAuth
      ? [basicAuth, basicAuth.slice(basicAuth.indexOf(':') + 1), Buffer.from(basicAuth).toString('base64')]
      : []
    return {
      ok: true,
      prepared: {
        signer: adyenSigner(event, credentials.value),
        origin: credentials.origin,
        basicAuthSent: basicAuth !== undefined,
        secrets: [hex, hex.toUpperCase(), ...authSecrets],
      },
    }
  }
  const key = paypalSigningKey(settings)
  if (!key.ok) return key
  const { paypalSigner } = await import('./sign-paypal.ts')
  const pemLines = key.value.privateKeyPem
    .split(/\r?\n/)
    .filter((line) => line.length >= 16 && !line.startsWith('-----'))
  return {
    ok: true,
    prepared: {
      signer: paypalSigner(event, key.value),
      origin: key.origin,
      basicAuthSent: false,
      secrets: [key.value.privateKeyPem, ...pemLines],
    },
  }
}

function redactor(secrets: readonly string[]): (text: string) => string {
  // Longest first, so a secret that contains another is removed whole.
  const values = [...new Set(secrets.filter((s) => s.length >= 8))].sort((a, b) => b.length - a.length)
  return (text) => values.reduce((acc, secret) => acc.split(secret).join('[redacted]'), text)
}

function listText(provider: ProviderName | undefined): string {
  const providers = provider ? [provider] : [...PROVIDER_NAMES]
  const blocks = providers.map((p) => {
    const types = fixtureTypes(p)
    return `${p} (${types.length} events)\n${types.map((t) => `  ${t}`).join('\n')}`
  })
  return `${blocks.join('\n\n')}\n\nSend one with: hookinbox send <provider> <event-type>   (npm run send -- <provider> <event-type>)`
}

function deliveryLine(d: Delivery): string {
  const n = `#${d.n}`.padEnd(4)
  if (d.status === undefined)
    return `${n} failed  ${d.error?.code ?? 'error'}: ${d.error?.message ?? ''}  ${d.ms} ms`
  return `${n} ${d.status}  ${compactBody(d.text)}  ${d.ms} ms`
}

export async function main(argv: readonly string[], io: SendIO = {}): Promise<number> {
  const env = io.env ?? process.env
  const cwd = io.cwd ?? process.cwd()
  const stdout = io.stdout ?? process.stdout
  const stderr = io.stderr ?? process.stderr
  const now = io.now ?? (() => new Date())
  const secrets: string[] = []
  const redact = (text: string) => redactor(secrets)(text)
  const print = (text: string) => stdout.write(`${redact(text)}\n`)
  const printErr = (text: string) => stderr.write(`${redact(text)}\n`)
  const jsonMode = argv.includes('--json')
  const printJson = (value: unknown) => print(JSON.stringify(value, null, 2))

  const fail = (code: number, kind: string, message: string, advice: string[] = []): number => {
    if (jsonMode) printJson({ ok: false, error: { kind, message }, advice })
    else {
      printErr(`error: ${message}`)
      for (const line of advice) printErr(`hint: ${line}`)
      if (code === EXIT_USAGE) printErr('Run with --help for usage.')
    }
    return code
  }

  let args: SendArgs
  try {
    args = parseSendArgs(argv)
  } catch (err) {
    if (err instanceof UsageError) return fail(EXIT_USAGE, 'usage', err.message)
    throw err
  }
  if (args.help) {
    print(USAGE)
    return EXIT_OK
  }
  if (args.list) {
    if (args.json) {
      const all = allFixtureTypes()
      printJson(args.provider ? { [args.provider]: all[args.provider] } : all)
    } else print(listText(args.provider))
    return EXIT_OK
  }

  const provider = args.provider as ProviderName
  const settings = readSettings(env, cwd)
  const baseUrl = args.url ?? settings.defaultUrl
  const endpoint = `${baseUrl}/webhooks/${provider}`

  let event: PreparedEvent
  let resolution: Resolution
  try {
    event = args.file
      ? eventFromFile(provider, args.file, args.freshId, now())
      : eventFromFixture(provider, args.type as string, now(), { live: args.live })
    resolution = await prepareSigner(event, settings)
  } catch (err) {
    if (err instanceof UsageError) return fail(EXIT_USAGE, 'usage', err.message)
    throw err
  }
  if (!resolution.ok) return fail(EXIT_FAILED, 'config', resolution.problem)
  const { signer, origin, basicAuthSent } = resolution.prepared
  secrets.push(...resolution.prepared.secrets)

  const copies = args.repeat
  const concurrency = Math.min(args.concurrency, copies)
  if (!args.json) {
    print(`Sending ${provider} ${event.type} (${event.id}) to ${endpoint}`)
    const how = copies === 1 ? '' : `; ${copies} copies, ${concurrency} at a time`
    print(`  signed with ${origin.text}${how}`)
  }

  const { deliveries, skipped } = await deliverAll({
    endpoint,
    copies,
    concurrency,
    sign: signer,
    now,
    ...(args.json ? {} : { onDelivery: (d: Delivery) => print(deliveryLine(d)) }),
  })
  const summary = summarize(deliveries, skipped)
  const context: AdviceContext = {
    provider,
    baseUrl,
    endpoint,
    origin,
    devPath: settings.devPath,
    basicAuthSent,
  }
  const advice = [
    ...new Set(deliveries.map((d) => adviceFor(d, context)).filter((a) => a !== undefined)),
    ...skippedAdvice(summary, args.file !== undefined),
  ]

  if (args.json) {
    printJson({
      ok: summary.ok,
      provider,
      type: event.type,
      eventId: event.id,
      endpoint,
      signedWith: origin.text,
      deliveries: deliveries.map((d) => ({
        n: d.n,
        ms: d.ms,
        ...(d.status === undefined ? { error: d.error } : { status: d.status, body: d.text }),
      })),
      summary,
      advice,
    })
  } else {
    print(formatSummary(summary, provider))
    for (const line of advice) printErr(`hint: ${line}`)
  }
  return summary.ok ? EXIT_OK : EXIT_FAILED
}

if (runDirectly(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2))
}
