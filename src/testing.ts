/**
 * A harness for testing your own handlers (README, "Testing your handlers"): the real service on a loopback
 * port, with your handler files, on a fresh SQLite database in a temporary folder, and deliveries signed
 * exactly as each provider signs them, with secrets made for the run. Nothing is mocked, so a test sees
 * what production does: the transaction, retries as duplicates, a failing handler's rollback.
 *
 *   const harness = await startHarness()
 *   const event = harness.fixture('stripe', 'checkout.session.completed')
 *   const answer = await harness.deliver('stripe', event)        // { status: 200, body: { status: 'processed', … } }
 *   harness.query('SELECT * FROM paid_checkouts')
 *   await harness.close()
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Writable } from 'node:stream'
import Database from 'better-sqlite3'
import { asAdyenNotification, eventFromFixture, type PreparedEvent } from './cli/events.ts'
import { adyenSigner } from './cli/sign-adyen.ts'
import { paypalSigner } from './cli/sign-paypal.ts'
import { stripeSigner } from './cli/sign-stripe.ts'
import { parseConfig } from './config.ts'
import { createDevSecrets } from './dev/dev-secrets.ts'
import { createLogger } from './logger.ts'
import type { ProviderName } from './providers/provider.ts'
import { startService } from './service.ts'

/** An event as JSON: what `fixture` returns and `deliver` takes (Adyen: the whole notification, or one item). */
// biome-ignore lint/suspicious/noExplicitAny: a test edits fixtures freely (event.data.object.amount = 1)
export type JsonEvent = Record<string, any>

export interface HarnessOptions {
  /** The handler files to run: `./handlers` (of the working directory) by default. */
  handlersDir?: string
  /**
   * More settings, as environment variables (`MAX_ATTEMPTS`, `HANDLER_TIMEOUT_MS`, `ADYEN_BASIC_AUTH`, …).
   * The harness's own win over them: `PORT`, `HOST`, `DATABASE_URL`, `HANDLERS_DIR`, the provider secrets
   * (`STRIPE_WEBHOOK_SECRET`, `ADYEN_HMAC_KEY`, `PAYPAL_WEBHOOK_ID`), `PAYPAL_VERIFY` (offline) and
   * `ADMIN_TOKEN`.
   */
  env?: Record<string, string>
  /** The service's clock, and the signatures' (Stripe refuses a signature older than 5 minutes by it). */
  now?: () => Date
}

export interface Delivered {
  /**
   * The HTTP status the provider would see: 200 means done (processed, ignored, duplicate or parked; or a
   * Stripe test-mode event skipped with STRIPE_TEST_EVENTS=skip).
   */
  status: number
  /** The answer's body: `{received, duplicate, status}` (Stripe, PayPal), `[accepted]` (Adyen), `{error}`. */
  body: unknown
}

export interface Harness {
  /** The service's address (the admin API is under /admin, with `adminToken`). */
  url: string
  adminToken: string
  /** A realistic event of that type, with fresh ids, from `npm run send`'s fixtures (`npm run send -- --list`). */
  fixture(provider: ProviderName, type: string): JsonEvent
  /** Delivers the event over HTTP, signed as its provider signs it; every call is a new delivery (a retry). */
  deliver(provider: ProviderName, event: JsonEvent): Promise<Delivered>
  /** Rows of a read-only query on the database: your tables and hookinbox's (`hookinbox_events`). */
  query<T = Record<string, unknown>>(sql: string, ...params: unknown[]): T[]
  /** The service's log lines (JSON), for a test that checks what was logged. */
  logs: string[]
  /** Stops the service and deletes its database. */
  close(): Promise<void>
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const secrets = createDevSecrets()
  const adminToken = `harness-${randomBytes(18).toString('base64url')}`
  const dir = mkdtempSync(join(tmpdir(), 'hookinbox-harness-'))
  const dbPath = join(dir, 'hookinbox.db')
  const now = options.now ?? (() => new Date())
  const logs: string[] = []
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk))
      done()
    },
  })
  let service: Awaited<ReturnType<typeof startService>>
  try {
    const config = parseConfig({
      LOG_LEVEL: 'info',
      ...options.env,
      // The harness's own, whatever `env` says: deliveries are signed with these.
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: dbPath,
      HANDLERS_DIR: resolve(options.handlersDir ?? 'handlers'),
      STRIPE_WEBHOOK_SECRET: secrets.stripe.webhookSecret,
      ADYEN_HMAC_KEY: secrets.adyen.hmacKey,
      PAYPAL_WEBHOOK_ID: secrets.paypal.webhookId,
      PAYPAL_VERIFY: 'offline',
      ADMIN_TOKEN: adminToken,
    })
    service = await startService(config, {
      log: createLogger(config.logLevel, sink),
      now,
      // PayPal signs with a key only PayPal has: the service trusts this run's own key instead, for the
      // reserved development certificate URL, as `npm run dev` does.
      dev: { paypalKey: { certUrl: secrets.paypal.certUrl, publicKeyPem: secrets.paypal.publicKeyPem } },
    })
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }

  const signerFor = (provider: ProviderName, event: JsonEvent) => {
    const prepared: PreparedEvent =
      provider === 'adyen'
        ? { provider, type: '', id: '', payload: asAdyenNotification(event, 'the Adyen event given') }
        : { provider, type: '', id: '', payload: event }
    if (provider === 'stripe') return stripeSigner(prepared, secrets.stripe.webhookSecret)
    if (provider === 'adyen')
      return adyenSigner(prepared, {
        hmacKey: Buffer.from(secrets.adyen.hmacKey, 'hex'),
        basicAuth: options.env?.ADYEN_BASIC_AUTH,
      })
    return paypalSigner(prepared, secrets.paypal)
  }

  return {
    url: service.url,
    adminToken,
    logs,
    fixture: (provider, type) => eventFromFixture(provider, type, now()).payload,
    async deliver(provider, event) {
      const { body, headers } = signerFor(provider, event)(now())
      const res = await fetch(`${service.url}/webhooks/${provider}`, { method: 'POST', body, headers })
      const text = await res.text()
      let parsed: unknown = text
      try {
        parsed = JSON.parse(text)
      } catch {
        // Adyen's `[accepted]` and Node's bare answers are text.
      }
      return { status: res.status, body: parsed }
    },
    query(sql, ...params) {
      const db = new Database(dbPath, { readonly: true, fileMustExist: true })
      try {
        return db.prepare(sql).all(...params) as never
      } finally {
        db.close()
      }
    },
    async close() {
      try {
        await service.close()
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}
