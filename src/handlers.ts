/**
 * The public API for handler files in `handlers/`:
 *
 *   import { defineHandler } from '../src/handlers.ts'
 *   export default defineHandler({ provider: 'stripe', events: ['invoice.paid'], async handle(event, ctx) { … } })
 *
 * A handler runs inside the database transaction that records the event, so its writes through `ctx.tx`
 * commit together with the "seen" mark or not at all. `defineHandler` only adds types: the payload is typed
 * from the events subscribed to (Stripe's own `Stripe.Event` types, Adyen's notification item, PayPal's
 * envelope), and a misspelt event name is a type error.
 */
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3'
import type { NodePgDatabase } from 'drizzle-orm/node-postgres'
import type { Logger } from 'pino'
import type Stripe from 'stripe'
import type { AdyenEventCode, PaypalEventType } from './providers/event-types.ts'
import type { ProviderName } from './providers/provider.ts'

export type { AdyenEventCode, PaypalEventType, ProviderName }

export interface HandlerEvent<Payload = unknown> {
  provider: ProviderName
  /** The provider's event id (Stripe `evt_…`, PayPal `WH-…`, Adyen `merchant:psp:code:success:original`). */
  id: string
  type: string
  /** The verified JSON of the event. */
  payload: Payload
  /** When hookinbox first received the event. */
  receivedAt: Date
  /**
   * When the provider says the event happened, read the same way for every provider: Stripe's `created`
   * (Unix seconds, or a thin event's ISO date-time), PayPal's `create_time`, Adyen's `eventDate` (a time
   * without a zone as UTC). Undefined when the event gives none, or one outside years 1 to 9999.
   */
  occurredAt?: Date
}

/** The transaction handlers write through, on the default SQLite database. See `pgTx` for PostgreSQL. */
export type HandlerTx = BetterSQLite3Database

export interface HandlerContext {
  /** Drizzle, bound to this event's transaction. Stops working once the handler has timed out. */
  tx: HandlerTx
  /** Which database `tx` talks to. */
  dialect: 'sqlite' | 'postgres'
  /** A child logger carrying the provider, event id and handler name. */
  log: Logger
  /** 1 on the first delivery, then counts every retry and replay. */
  attempt: number
  trigger: 'delivery' | 'replay'
  /**
   * Providers do not deliver in order. Inside the transaction, records `occurredAt` as the newest provider
   * time seen for `objectKey` (e.g. a subscription id) and answers whether this event is older than one
   * already applied to that object (then skip it). Rolls back with the handler's other writes. Throws a
   * TypeError, before writing anything, for a time outside years 1 to 9999 (UTC), on SQLite and PostgreSQL alike.
   */
  isStale(objectKey: string, occurredAt: Date): Promise<boolean>
}

/** `ctx.tx` as PostgreSQL's Drizzle, for handlers of a service running on PostgreSQL. */
export function pgTx(ctx: HandlerContext): NodePgDatabase {
  if (ctx.dialect !== 'postgres') throw new Error('pgTx: this service runs on SQLite; use ctx.tx')
  return ctx.tx as unknown as NodePgDatabase
}

// ---- payload types ------------------------------------------------------------------------------------

/** The usual Stripe events, each with a snapshot of its object in `data.object`. */
export type StripeSnapshotEventType = Stripe.Event['type']
/**
 * Stripe's v2 "thin" events (`object: "v2.core.event"`), which event destinations send when asked to: a
 * reference to the object in `related_object`, and types of their own (`v1.invoice.paid`, `v2.core.account.created`).
 */
export type StripeThinEventType = Stripe.V2.Core.Event['type']
export type StripeEventType = StripeSnapshotEventType | StripeThinEventType
/** An event type without the stripe package's fetch method, which only its own client's parse adds. */
type AsDelivered<E> = E extends unknown ? Omit<E, 'fetchRelatedObject'> : never
/**
 * A thin event as it arrives: its JSON. The stripe package's type adds `fetchRelatedObject()`, which only an
 * event parsed by the package's client has; fetch the object with your own client and `related_object.id`.
 */
export type StripeThinEvent = AsDelivered<Stripe.V2.Core.Event>
/** The stripe package's own type for an event of type T (a union for a union of types). */
export type StripeEventOf<T extends StripeEventType> = Extract<Stripe.Event | StripeThinEvent, { type: T }>

/** A PayPal webhook event; `resource` depends on the event type and is left to the handler to read. */
export interface PaypalEnvelope<T extends string = PaypalEventType> {
  id: string
  event_type: T
  event_version?: string
  create_time: string
  resource_type?: string
  resource_version?: string
  summary?: string
  resource: unknown
  links?: Array<{ href: string; rel: string; method?: string }>
}

/** One Adyen classic notification item (each item is its own event in hookinbox). */
export interface AdyenNotificationItem<C extends string = AdyenEventCode> {
  eventCode: C
  success: 'true' | 'false'
  pspReference: string
  originalReference?: string
  merchantAccountCode: string
  merchantReference: string
  amount?: { value: number; currency: string }
  eventDate?: string
  paymentMethod?: string
  reason?: string
  operations?: string[]
  additionalData?: Record<string, string>
}

// ---- handlers -----------------------------------------------------------------------------------------

export interface Handler<Payload = unknown> {
  /** Defaults to the file name (with `#n` appended for the n-th handler of an array export). */
  name?: string
  provider: ProviderName | '*'
  /** Exact event types, or `'*'` for all of the provider's events. */
  events: readonly string[] | '*'
  handle(event: HandlerEvent<Payload>, ctx: HandlerContext): Promise<void> | void
}

type Events<Known extends string> = readonly Known[] | '*'
type Spec<P, E, Payload> = {
  name?: string
  provider: P
  events: E
  handle(event: HandlerEvent<Payload>, ctx: HandlerContext): Promise<void> | void
}
type Picked<E, Known extends string> = E extends readonly (infer T extends Known)[] ? T : Known
/** The event names each provider knows; any string for `'*'`. */
type KnownEvents = { stripe: StripeEventType; paypal: PaypalEventType; adyen: AdyenEventCode; '*': string }
type PayloadOf<P, T> = P extends 'stripe'
  ? StripeEventOf<T & StripeEventType>
  : P extends 'paypal'
    ? PaypalEnvelope<T & PaypalEventType>
    : P extends 'adyen'
      ? AdyenNotificationItem<T & AdyenEventCode>
      : unknown

/**
 * Only adds types: a plain object with the same shape works too. One signature, not one overload per
 * provider: with overloads, a misspelt event name was reported against the last one, as "'stripe' is not
 * assignable to '*'" on the provider line; now it is reported on `events`, with the names that are valid.
 */
export function defineHandler<P extends ProviderName | '*', const E extends Events<KnownEvents[P]>>(
  handler: Spec<P, E, PayloadOf<P, Picked<E, KnownEvents[P]>>>,
): Handler {
  return handler as unknown as Handler
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
