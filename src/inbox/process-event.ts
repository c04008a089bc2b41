/**
 * The inbox's one code path, for every dialect: inside an open transaction, claim the event, answer a
 * duplicate, or run the handlers (undoing their writes if one fails) and record the outcome and the attempt.
 */
import type { Logger } from 'pino'
import type { EventStatus } from '../db/schema.ts'
import { AppError } from '../errors.ts'
import type { HandlerEvent } from '../handlers.ts'
import type { ProviderName, VerifiedEvent } from '../providers/provider.ts'
import type { HandlerRegistry } from '../registry/handler-registry.ts'
import { AttemptScope } from './attempt-scope.ts'
import type { EventStore, EventUpdate, NewEvent, StoredEvent } from './event-store.ts'
import { type Outcome, SETTLED_STATUSES } from './inbox.ts'
import { HandlerFailure, runHandlers } from './run-handlers.ts'

export type Work = (
  | { kind: 'delivery'; event: VerifiedEvent; receivedAt: Date }
  | { kind: 'replay'; provider: ProviderName; eventId: string }
) & {
  /**
   * Set when this attempt's handlers already ran and their writes broke a deferred constraint, found only
   * when the transaction committed (and rolled back): this time the attempt is recorded as failed without
   * running them, so that the event is retried and, in the end, parked, like any failing handler.
   */
  deferredFailure?: string
}

/** The "handler" a deferred constraint's failure is recorded under. */
export const DEFERRED_CONSTRAINT = 'a deferred constraint failed when the transaction committed'

/** The provider and event id a piece of work is about. */
export const workEvent = (work: Work): { provider: ProviderName; eventId: string } =>
  work.kind === 'delivery'
    ? { provider: work.event.provider, eventId: work.event.id }
    : { provider: work.provider, eventId: work.eventId }

/**
 * The same work, to be recorded as a failed attempt: its handlers broke a deferred constraint, which the
 * COMMIT found and rolled everything back for (see Work.deferredFailure). Both inboxes come here.
 */
export function failedAtCommit(work: Work, err: unknown, log: Logger): Work {
  log.warn(workEvent(work), 'a deferred constraint failed at COMMIT: the attempt is recorded as failed')
  return {
    ...work,
    deferredFailure: String((err as { message?: unknown } | null)?.message ?? err).slice(0, 500),
  }
}

export interface ProcessDeps {
  registry: HandlerRegistry
  log: Logger
  handlerTimeoutMs: number
  maxAttempts: number
  now: () => Date
}

/** What every inbox is created with, whatever its database; `now` defaults to the wall clock. */
export type InboxOptions = Omit<ProcessDeps, 'now'> & { now?: () => Date }

export function processDeps(options: InboxOptions): ProcessDeps {
  return {
    registry: options.registry,
    log: options.log,
    handlerTimeoutMs: options.handlerTimeoutMs,
    maxAttempts: options.maxAttempts,
    now: options.now ?? (() => new Date()),
  }
}

const MAX_ERROR_LENGTH = 2000

async function replayable(store: EventStore, provider: ProviderName, eventId: string): Promise<StoredEvent> {
  // No event is stored under an id holding U+0000 (event-key.ts), and PostgreSQL refuses it as a parameter.
  const row = eventId.includes('\u0000') ? undefined : await store.find(provider, eventId)
  if (!row) throw new AppError('not_found', 'no such event')
  // The reasons let the admin page pick its own notice for each refusal.
  // An ignored event ran no handler, so running the handlers that match it now (one added since) cannot apply
  // anything twice; a processed one did.
  if (row.status === 'processed') {
    const message = 'the event is already processed; only failed, parked or ignored events replay'
    throw new AppError('conflict', message, { reason: 'already_settled' })
  }
  if (row.payload === null)
    throw new AppError('conflict', 'the payload of this event was pruned', { reason: 'payload_pruned' })
  return row
}

export async function processEvent(work: Work, store: EventStore, deps: ProcessDeps): Promise<Outcome> {
  const base = workEvent(work)
  const { provider, eventId } = base
  /** Binds a delivery's transmission to its body (see VerifiedEvent.transmission); true without one. */
  const bindTransmission = async () => {
    if (work.kind !== 'delivery' || !work.event.transmission) return true
    const { id, bodySha256, signedAt } = work.event.transmission
    // Kept from the later of its arrival and its signed time (see VerifiedEvent.transmission).
    const from = signedAt && signedAt > work.receivedAt ? signedAt : work.receivedAt
    return store.bindTransmission(provider, id, bodySha256, from)
  }

  /** The stored row, if there is one yet (a new event on SQLite has none until its outcome is saved). */
  let seq: number | null
  /** The status the stored row had before this attempt; null for a new event. */
  let previous: EventStatus | null = null
  let attempts = 0
  let receivedAt: Date
  let occurredAt: Date | null | undefined
  let newEvent: NewEvent | undefined
  let type: string
  let payloadJson: string
  let payload: unknown
  if (work.kind === 'delivery') {
    const { event } = work
    // First, before even a duplicate is answered: a transmission seen once is bound to its body for good.
    if (!(await bindTransmission())) {
      throw new AppError(
        'invalid_signature',
        'this signed transmission was received before with a different body',
        {
          reason: 'transmission_reused',
        },
      )
    }
    payloadJson = event.payloadJson ?? JSON.stringify(event.payload)
    newEvent = {
      provider,
      eventId,
      type: event.type,
      payload: payloadJson,
      receivedAt: work.receivedAt,
      occurredAt: event.occurredAt ?? null,
    }
    const claim = await store.claim(newEvent)
    if (claim.fresh) {
      seq = claim.seq
      receivedAt = work.receivedAt
    } else {
      const { row } = claim
      if (SETTLED_STATUSES.has(row.status)) {
        await store.touch(provider, eventId, work.receivedAt)
        return { ...base, type: row.type, status: row.status, duplicate: true, attempts: row.attempts }
      }
      seq = row.seq
      previous = row.status
      attempts = row.attempts
      receivedAt = row.receivedAt
    }
    type = event.type
    payload = event.payload
    // A retry's time is the stored one, as a replay's is (and as the admin shows).
    occurredAt = claim.fresh ? event.occurredAt : claim.row.occurredAt
  } else {
    const row = await replayable(store, provider, eventId)
    seq = row.seq
    previous = row.status
    attempts = row.attempts
    receivedAt = row.receivedAt
    type = row.type
    payloadJson = row.payload as string
    payload = JSON.parse(payloadJson)
    occurredAt = row.occurredAt
  }

  const attempt = attempts + 1
  const handlerEvent: HandlerEvent = {
    provider,
    id: eventId,
    type,
    payload,
    receivedAt,
    ...(occurredAt ? { occurredAt } : {}),
  }
  const started = performance.now()
  let status: EventStatus
  let ran: string[] = []
  let error: string | undefined

  await store.markHandlers()
  const scope = new AttemptScope(store, deps.log, provider, eventId, type)
  try {
    if (work.deferredFailure !== undefined)
      throw new HandlerFailure(DEFERRED_CONSTRAINT, new Error(work.deferredFailure))
    ran = await runHandlers({
      event: handlerEvent,
      handlers: deps.registry.match(provider, type),
      scope,
      attempt,
      trigger: work.kind,
      dialect: store.dialect,
      timeoutMs: deps.handlerTimeoutMs,
    })
    status = ran.length > 0 ? 'processed' : 'ignored'
  } catch (err) {
    if (!(err instanceof HandlerFailure)) throw err
    scope.revoke()
    // Undo everything the handlers wrote, then record the failure in a separate write.
    await store.undoHandlers()
    // On SQLite the undo goes back to the event's savepoint, from before the transmission was bound: bind it
    // again, or a failed (later retried, in a new transmission) delivery would leave its headers free to
    // carry a forged body.
    await bindTransmission()
    status = err.permanent || attempt >= deps.maxAttempts ? 'parked' : 'failed'
    error = err.message.slice(0, MAX_ERROR_LENGTH)
  } finally {
    scope.revoke()
  }

  const durationMs = Math.round(performance.now() - started)
  const at = deps.now()
  const outcome: EventUpdate = {
    type,
    status,
    attempts: attempt,
    payload: payloadJson,
    processedAt: status === 'processed' || status === 'ignored' ? at : null,
    lastError: error ?? null,
    handlers: JSON.stringify(ran),
  }
  await store.saveOutcome({
    provider,
    seq,
    event: newEvent,
    values: outcome,
    previous,
    attempt: { at, durationMs, error: error ?? null, trigger: work.kind },
  })
  return { ...base, type, status, duplicate: false, attempts: attempt, ...(error ? { error } : {}) }
}
