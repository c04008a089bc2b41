/**
 * What the handlers of one attempt share: the transaction handle (made on first use, since a Drizzle
 * instance costs something per event; revoked once the handlers are done or timed out, so a late write
 * throws instead of landing in another event's transaction), the event's logger (a pino child, made on first
 * use) and `ctx.isStale`. One object per attempt instead of closures per attempt: this runs for every
 * delivery.
 */
import type { Logger } from 'pino'
import type { HandlerContext, HandlerTx } from '../handlers.ts'
import { eventTime } from '../providers/event-time.ts'
import type { ProviderName } from '../providers/provider.ts'
import type { EventStore } from './event-store.ts'
import { RevokedTransactionError } from './revocable-client.ts'
import type { HandlerScope } from './run-handlers.ts'

export class AttemptScope implements HandlerScope {
  #handle: ReturnType<EventStore['handlerTx']> | undefined
  #log: Logger | undefined
  #isStale: HandlerContext['isStale'] | undefined
  #revoked = false
  readonly #store: EventStore
  readonly #baseLog: Logger
  readonly #provider: ProviderName
  readonly #eventId: string
  readonly #type: string

  constructor(store: EventStore, baseLog: Logger, provider: ProviderName, eventId: string, type: string) {
    this.#store = store
    this.#baseLog = baseLog
    this.#provider = provider
    this.#eventId = eventId
    this.#type = type
  }

  tx(): HandlerTx {
    if (this.#revoked) throw new RevokedTransactionError()
    this.#handle ??= this.#store.handlerTx()
    return this.#handle.tx
  }

  log(): Logger {
    this.#log ??= this.#baseLog.child({ provider: this.#provider, eventId: this.#eventId, type: this.#type })
    return this.#log
  }

  /** A function of its own (made on first use), so handlers may call it detached from `ctx`. */
  get isStale(): HandlerContext['isStale'] {
    this.#isStale ??= (objectKey, occurredAt) => this.#checkStale(objectKey, occurredAt)
    return this.#isStale
  }

  /** After a handler returned: throws if it left the transaction unable to go on. */
  async checkTransaction(): Promise<void> {
    await this.#handle?.check?.()
  }

  /** The handlers are over (done, failed or timed out): nothing may write through this attempt any more. */
  revoke(): void {
    this.#revoked = true
    this.#handle?.revoke()
  }

  async #checkStale(objectKey: string, occurredAt: Date): Promise<boolean> {
    if (this.#revoked) throw new RevokedTransactionError()
    // instanceof, not only getTime(): Number.isNaN(undefined) is false, so a number (Stripe's `created`, in
    // seconds) or a string passed as the time went on and failed deeper down with a message naming neither.
    if (
      typeof objectKey !== 'string' ||
      objectKey.length === 0 ||
      !(occurredAt instanceof Date) ||
      Number.isNaN(occurredAt.getTime())
    ) {
      throw new TypeError('ctx.isStale(objectKey, occurredAt) needs a non-empty string and a valid Date')
    }
    // PostgreSQL refuses a time outside years 1 to 9999 as Drizzle writes it, and the failed statement aborted
    // the event's transaction: a 503 at every retry, where SQLite kept the time. Refused alike on both, before
    // any statement, so the handler may catch it.
    if (eventTime(occurredAt) === undefined) {
      throw new TypeError('ctx.isStale(objectKey, occurredAt) needs a time from year 1 to 9999 (UTC)')
    }
    return this.#store.isStale(this.#provider, objectKey, occurredAt, this.#eventId)
  }
}
