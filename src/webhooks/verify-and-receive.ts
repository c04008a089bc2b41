/**
 * POST /webhooks/:provider — the whole pipeline of one delivery: limit and read the raw body once, let the
 * provider verify it, hand the verified events to the inbox, answer from the committed outcomes.
 */
import { type Context, type Handler, Hono, type MiddlewareHandler } from 'hono'
import type { Logger } from 'pino'
import { AppError, isAppError } from '../errors.ts'
import type { Inbox, Outcome } from '../inbox/inbox.ts'
import { PROVIDER_NAMES, type Provider, type ProviderName } from '../providers/provider.ts'
import type { Admission } from './admission.ts'
import { readBody } from './read-body.ts'
import { type Answer, respond } from './respond.ts'
import type { TrafficAdvice } from './traffic-advice.ts'

export interface WebhookRouteDeps {
  providers: Partial<Record<ProviderName, Provider>>
  inbox: Inbox
  maxBodyBytes: number
  /** Bounds the verified deliveries held at once (waiting to be written or for their commit). */
  admission: Admission
  log: Logger
  now: () => Date
  /** Called for every delivery refused before it reached the inbox (metrics). */
  onRejected?: (provider: ProviderName, reason: string) => void
  /** Called for every event outcome, skipped ones included (metrics). */
  onOutcome?: (outcome: Answer) => void
  /** Told of every verified delivery's events, for the warnings only traffic can prompt. */
  advice?: TrafficAdvice
  /** Called once per delivery whose events all reached an outcome, with its duration (metrics). */
  onDelivered?: (provider: ProviderName, durationMs: number) => void
}

const isProviderName = (name: string): name is ProviderName => PROVIDER_NAMES.includes(name as ProviderName)

/** A delivery (or one event of it) refused: counted, kept in the statistics, logged as a warning. */
function refused(
  deps: WebhookRouteDeps,
  provider: ProviderName,
  at: Date,
  reason: string,
  fields: Record<string, unknown>,
) {
  deps.onRejected?.(provider, reason)
  deps.inbox.noteRejected(provider, reason, at)
  deps.log.warn({ provider, reason, ...fields }, 'delivery rejected')
}

/** With and without a trailing slash: a URL registered at the provider as `…/webhooks/stripe/` works too. */
const PATHS = ['/webhooks/:provider', '/webhooks/:provider/']

const knownProvider = (name: string): ProviderName => {
  if (!isProviderName(name)) throw new AppError('not_found', `unknown provider "${name.slice(0, 40)}"`)
  return name
}

export function webhookRoutes(deps: WebhookRouteDeps): Hono {
  const app = new Hono()

  /** The provider a webhook URL names, when it is configured here (else 404, saying which it is). */
  const configuredProvider = (c: Context): ProviderName => {
    const name = knownProvider(c.req.param('provider') ?? '')
    if (!deps.providers[name]) throw new AppError('not_configured', `${name} is not configured`)
    return name
  }

  // Someone opening the webhook URL in a browser to check it must learn that it works (405: it takes POST),
  // or why it does not (404: no such provider, or one not configured), as a delivery would.
  const wrongMethod: Handler = (c) => {
    configuredProvider(c)
    throw new AppError('method_not_allowed', 'webhooks are delivered with POST', {
      headers: { Allow: 'POST' },
    })
  }

  const configured: MiddlewareHandler = async (c, next) => {
    configuredProvider(c)
    await next()
  }

  const receive: Handler = async (c) => {
    const name = c.req.param('provider') as ProviderName
    const provider = deps.providers[name] as Provider
    const started = performance.now()
    const receivedAt = deps.now()
    let body: Uint8Array
    try {
      body = await readBody(c, deps.maxBodyBytes)
    } catch (err) {
      if (isAppError(err) && err.kind === 'client_aborted') {
        // Debug, not warn: anyone can hang up at will, and a line per hang-up must not page anyone.
        deps.log.debug({ provider: name, reason: err.reason }, 'delivery aborted by the client')
      } else if (isAppError(err) && err.status < 500) {
        // A body over MAX_BODY_BYTES is refused as surely as a bad signature: a provider sending events larger
        // than the limit must show in the metrics, the stats and the log, not only in its own retries.
        refused(deps, name, receivedAt, err.reason, {})
      }
      throw err
    }

    let verified: Awaited<ReturnType<Provider['verify']>>
    try {
      verified = await provider.verify({ headers: c.req.raw.headers, body, receivedAt })
    } catch (err) {
      // The message too: written for the caller, it holds no secret, and says what was wrong with this one.
      refused(deps, name, receivedAt, isAppError(err) ? err.reason : 'internal', {
        bytes: body.byteLength,
        ...(isAppError(err) ? { message: err.message } : {}),
      })
      throw err
    }
    deps.advice?.verified(verified)

    // Events the configuration does not take (see VerifiedEvent.skip) never reach the inbox.
    const toReceive = verified.filter((event) => event.skip === undefined)
    let results: PromiseSettledResult<Outcome>[] = []
    if (toReceive.length > 0) {
      // Refused before any of its events reaches the inbox, so a refused delivery leaves nothing behind. Not
      // when every event is a duplicate the inbox answers from memory: that costs no more than refusing it,
      // and a refused one would only come back, lengthening a storm of retries.
      const release =
        deps.admission.admit(body.byteLength) ??
        (toReceive.every((event) => deps.inbox.answersFromMemory(event)) ? () => {} : undefined)
      if (!release) {
        refused(deps, name, receivedAt, 'overloaded', {
          bytes: body.byteLength,
          pending: deps.admission.pending,
        })
        throw new AppError('overloaded', 'too many deliveries are waiting to be written; retry later')
      }
      try {
        results = await Promise.allSettled(toReceive.map((event) => deps.inbox.receive(event, receivedAt)))
      } finally {
        release()
      }
    }
    const durationMs = Math.round((performance.now() - started) * 10) / 10
    const outcomes: Answer[] = []
    let storageFailure: unknown
    // Checked once: the line's fields are not even gathered when info is off (a busy service's usual level).
    const logDeliveries = deps.log.isLevelEnabled('info')
    // In the delivery's order, skipped events among the others.
    let next = 0
    for (const event of verified) {
      if (event.skip !== undefined) {
        const answer: Answer = {
          provider: name,
          eventId: event.id,
          type: event.type,
          status: 'skipped',
          duplicate: false,
        }
        outcomes.push(answer)
        deps.onOutcome?.(answer)
        if (logDeliveries)
          deps.log.info(
            {
              provider: name,
              eventId: event.id,
              type: event.type,
              outcome: 'skipped',
              reason: event.skip,
              durationMs,
            },
            'delivery',
          )
        continue
      }
      const result = results[next++] as PromiseSettledResult<Outcome>
      if (result.status === 'fulfilled') {
        outcomes.push(result.value)
        deps.onOutcome?.(result.value)
        if (logDeliveries)
          deps.log.info(
            {
              provider: name,
              eventId: result.value.eventId,
              type: result.value.type,
              outcome: result.value.duplicate ? 'duplicate' : result.value.status,
              attempts: result.value.attempts,
              durationMs,
              // Which of several configured PayPal webhook ids verified it (see VerifiedEvent).
              ...(event.webhookIdIndex !== undefined ? { webhookIdIndex: event.webhookIdIndex } : {}),
              // Adyen sent the credentials of ADYEN_BASIC_AUTH_PREVIOUS (see VerifiedEvent).
              ...(event.previousBasicAuth ? { basicAuth: 'previous' } : {}),
            },
            'delivery',
          )
        if (result.value.error) deps.log.debug({ eventId: result.value.eventId, error: result.value.error })
      } else if (isAppError(result.reason) && result.reason.status < 500) {
        // Refused by the inbox, not failed in it (a PayPal transmission replayed with another body).
        storageFailure ??= result.reason
        refused(deps, name, receivedAt, result.reason.reason, { eventId: event.id })
      } else {
        // A failure to retry outweighs a refusal: the provider must send the delivery again.
        if (storageFailure === undefined || isAppError(storageFailure)) storageFailure = result.reason
        deps.log.error(
          {
            provider: name,
            eventId: event.id,
            type: event.type,
            outcome: 'error',
            durationMs,
            err: result.reason,
          },
          'delivery not recorded',
        )
      }
    }
    if (outcomes.length === verified.length) deps.onDelivered?.(name, durationMs)
    if (storageFailure !== undefined) {
      throw isAppError(storageFailure)
        ? storageFailure
        : new AppError('storage_unavailable', 'the event store is unavailable; retry later')
    }
    return respond(provider, outcomes)
  }

  for (const path of PATHS) {
    app.post(path, configured, receive)
    // Every other method, not a list of them: one left out (TRACE, PROPFIND, …) fell through to the app's 405,
    // whose Allow listed this list, for any provider name.
    app.all(path, wrongMethod)
  }
  return app
}
