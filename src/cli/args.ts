/**
 * Command-line arguments of `hookinbox send`. Anything the user typed wrong is a UsageError (exit code 2),
 * with a message that says what to type instead.
 */
import { parseArgs as parseNodeArgs } from 'node:util'
import { PROVIDER_NAMES, type ProviderName } from '../providers/provider.ts'

export const USAGE = `Usage: hookinbox send <stripe|paypal|adyen> <event-type> [options]
       hookinbox send <stripe|paypal|adyen> --file my-event.json [options]
       hookinbox send [provider] --list

Sends a realistic, correctly signed webhook to a running hookinbox, exactly as the provider would.

Options:
  --url <url>          where hookinbox listens (default http://localhost:$PORT, PORT defaulting to 3000)
  --file <path>        send your own payload instead of a built-in one (Stripe/PayPal: the event JSON;
                       Adyen: a NotificationRequestItem or a whole notification); its id is kept
  --fresh-id           with --file: give the payload a new id (and timestamp) first
  --live               Stripe: a live-mode event (livemode: true); built-in events are test-mode, which a
                       service with STRIPE_TEST_EVENTS=skip answers "skipped" without running a handler
  --repeat <n>         deliver the same event n times, each copy freshly signed (default 1)
  --concurrency <c>    how many deliveries are in flight at once (default 1)
  --list               list the built-in event types
  --json               print one JSON document instead of text
  -h, --help           show this help

Secrets come from the environment or .env (STRIPE_WEBHOOK_SECRET, ADYEN_HMAC_KEY, ADYEN_BASIC_AUTH,
PAYPAL_WEBHOOK_ID), else from the development secrets that \`npm run dev\` writes next to the database.
Exit code: 0 when every delivery got a 2xx answer, 1 otherwise, 2 for a usage error.`

export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

export interface SendArgs {
  provider: ProviderName | undefined
  type: string | undefined
  url: string | undefined
  file: string | undefined
  freshId: boolean
  live: boolean
  repeat: number
  concurrency: number
  list: boolean
  json: boolean
  help: boolean
}

export const MAX_REPEAT = 100_000
export const MAX_CONCURRENCY = 256

function wholeNumber(name: string, raw: string | undefined, fallback: number, max: number): number {
  if (raw === undefined) return fallback
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < 1 || Number(raw) > max) {
    throw new UsageError(`--${name} must be a whole number from 1 to ${max}, not "${raw}"`)
  }
  return Number(raw)
}

export function parseProvider(raw: string): ProviderName {
  const name = raw.toLowerCase()
  if (!(PROVIDER_NAMES as readonly string[]).includes(name)) {
    throw new UsageError(`unknown provider "${raw}": choose one of ${PROVIDER_NAMES.join(', ')}`)
  }
  return name as ProviderName
}

/** An http(s) base URL without trailing slashes; the webhook path is appended later. */
export function parseBaseUrl(raw: string): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new UsageError(`--url "${raw}" is not a URL: write it like http://localhost:3000`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url must start with http:// or https://, not "${url.protocol}"`)
  }
  if (url.search || url.hash) throw new UsageError('--url takes the service address only, without ? or #')
  return url.href.replace(/\/+$/, '')
}

export function parseSendArgs(argv: readonly string[]): SendArgs {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(argv)
  } catch (err) {
    // node:util's messages name the offending option; they carry no secrets (secrets never come from argv).
    throw new UsageError((err as Error).message.replace(/\. To specify a positional.*$/s, ''))
  }
  const { values, positionals } = parsed
  const help = values.help === true
  const list = values.list === true
  const result: SendArgs = {
    provider: undefined,
    type: undefined,
    url: values.url === undefined ? undefined : parseBaseUrl(values.url),
    file: values.file,
    freshId: values['fresh-id'] === true,
    live: values.live === true,
    repeat: wholeNumber('repeat', values.repeat, 1, MAX_REPEAT),
    concurrency: wholeNumber('concurrency', values.concurrency, 1, MAX_CONCURRENCY),
    list,
    json: values.json === true,
    help,
  }
  if (help) return result

  const [provider, type, ...extra] = positionals
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`)
  if (provider !== undefined) result.provider = parseProvider(provider)
  if (list) return result

  if (result.provider === undefined)
    throw new UsageError('which provider? e.g. hookinbox send stripe charge.succeeded')
  if (type !== undefined && result.file !== undefined) {
    throw new UsageError('give either an event type or --file, not both (the file says its own type)')
  }
  if (type === undefined && result.file === undefined) {
    throw new UsageError(
      `which event? e.g. hookinbox send ${result.provider} <event-type>; see the types with --list, or send your own with --file`,
    )
  }
  if (result.freshId && result.file === undefined) {
    throw new UsageError('--fresh-id only applies to --file (built-in events always get a fresh id)')
  }
  if (result.live && result.provider !== 'stripe') {
    throw new UsageError(
      '--live is for Stripe events (PayPal sandbox and Adyen test deliveries go to webhooks of their own)',
    )
  }
  if (result.live && result.file !== undefined) {
    throw new UsageError('--live only applies to built-in events (a --file says its own livemode)')
  }
  result.type = type
  return result
}

function parse(argv: readonly string[]) {
  return parseNodeArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      url: { type: 'string' },
      file: { type: 'string' },
      'fresh-id': { type: 'boolean' },
      live: { type: 'boolean' },
      repeat: { type: 'string' },
      concurrency: { type: 'string' },
      list: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
}
