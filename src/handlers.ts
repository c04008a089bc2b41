/**
 * The public API for handler files in `handlers/`:
 *
 *   import { defineHandler } from '../src/handlers.ts'
 *   export default defineHandler({ provider: 'stripe', events: ['invoice.paid'], async handle(event, ctx) { … } })
 *
 * A handler runs inside the database transaction that records the event, so its writes through `ctx.tx`
 * commit together with the "seen" mark or not at all.
 */
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3'
import type { Logger } from 'pino'
import type { ProviderName } from './providers/provider.ts'

export type { ProviderName }

export interface HandlerEvent<Payload = unknown> {
  provider: ProviderName
  /** The provider's event id (Stripe `evt_…`, PayPal `WH-…`, Adyen `merchant:psp:code:success:original`). */
  id: string
  type: string
  /** The verified JSON of the event. */
  payload: Payload
  receivedAt: Date
}

/** The transaction handlers write through: a Drizzle database bound to the event's transaction. */
export type HandlerTx = BetterSQLite3Database

export interface HandlerContext {
  /** Drizzle, bound to this event's transaction. Stops working once the handler has timed out. */
  tx: HandlerTx
  /** A child logger carrying the provider, event id and handler name. */
  log: Logger
  /** 1 on the first delivery, then counts every retry and replay. */
  attempt: number
  trigger: 'delivery' | 'replay'
}

export interface Handler<Payload = unknown> {
  /** Defaults to the file name (with `#n` appended for the n-th handler of an array export). */
  name?: string
  provider: ProviderName | '*'
  /** Exact event types, or `'*'` for all of the provider's events. */
  events: readonly string[] | '*'
  handle(event: HandlerEvent<Payload>, ctx: HandlerContext): Promise<void> | void
}

/** Only adds types: a plain object with the same shape works too. */
export function defineHandler<Payload = unknown>(handler: Handler<Payload>): Handler<Payload> {
  return handler
}

/**
 * Throw this when retrying cannot help (e.g. the payload refers to something that will never exist): the
 * event is parked at once, acknowledged so the provider stops retrying, and waits for an operator's replay.
 */
export class PermanentError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'PermanentError'
  }
}
