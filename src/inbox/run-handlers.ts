/**
 * Runs an event's matching handlers one after another, each bounded by the handler timeout. Storage-neutral:
 * the caller opens the transaction (or savepoint), hands in the `tx` the handlers write through, and commits
 * or rolls back depending on the result.
 */
import { DrizzleError, DrizzleQueryError } from 'drizzle-orm'
import type { Logger } from 'pino'
import type { HandlerContext, HandlerEvent, HandlerTx } from '../handlers.ts'
import type { LoadedHandler } from '../registry/handler-registry.ts'

export class HandlerTimeoutError extends Error {
  constructor(handler: string, ms: number) {
    super(`handler "${handler}" timed out after ${ms} ms`)
    this.name = 'HandlerTimeoutError'
  }
}

/**
 * A thrown value as text. Handlers may throw anything, including values String() refuses (an object without
 * a prototype, a throwing getter or toString); describing the failure must never fail itself, or the event
 * would be neither recorded nor parked.
 */
function describeThrown(error: unknown): string {
  try {
    if (error instanceof DrizzleQueryError) {
      // Its message lists every value bound to the query; the SQL and the driver's error are what help.
      const cause = error.cause instanceof Error ? `: ${error.cause.message}` : ''
      return `Failed query: ${error.query}${cause}`
    }
    // Drizzle's SQLite session wraps a failure as "Failed to run the query '…'": the cause says why.
    if (error instanceof DrizzleError && error.cause instanceof Error) {
      return `${error.message}: ${error.cause.message}`
    }
    if (error instanceof Error) return String(error.message)
    if (typeof error === 'object' && error !== null) return describeObject(error)
    return String(error)
  } catch {
    return 'the handler threw a value that cannot be shown as text'
  }
}

/** A plain object thrown (some clients reject with one): its message, else its JSON, not "[object Object]". */
function describeObject(error: object): string {
  const { message } = error as { message?: unknown }
  if (typeof message === 'string') return message
  const text = String(error)
  if (text !== '[object Object]') return text
  try {
    return JSON.stringify(error) ?? text
  } catch {
    // Circular, or holding a BigInt.
    return text
  }
}

/** A handler's failure, with the handler's name, so operators see which one threw. */
export class HandlerFailure extends Error {
  constructor(
    readonly handler: string,
    readonly error: unknown,
  ) {
    super(`${handler}: ${describeThrown(error)}`)
    this.name = 'HandlerFailure'
  }

  /**
   * PermanentError is recognised by name, so a handler bundling its own copy of this module still parks; and
   * so is a subclass that names itself (`class CustomerGone extends PermanentError`), by its ancestors'.
   */
  get permanent(): boolean {
    return isPermanent(this.error)
  }
}

function isPermanent(e: unknown): boolean {
  try {
    if (!(e instanceof Error)) return false
    if (e.name === 'PermanentError') return true
    for (let p = Object.getPrototypeOf(e); p && p !== Error.prototype; p = Object.getPrototypeOf(p)) {
      if (Object.hasOwn(p, 'constructor') && p.constructor?.name === 'PermanentError') return true
    }
    return false
  } catch {
    // A hostile value (a throwing getter, a revoked proxy) is an ordinary failure.
    return false
  }
}

/** What the handlers of one attempt share (process-event.ts gives an AttemptScope). */
export interface HandlerScope {
  tx(): HandlerTx
  /** After each handler that returned: throws if it left the transaction unable to go on. */
  checkTransaction(): Promise<void>
  log(): Logger
  readonly isStale: HandlerContext['isStale']
}

/** `ctx` of one handler call; its accessors live on the prototype, not in closures made per call. */
class Context implements HandlerContext {
  // Private fields (#), not TypeScript's `private`: a handler must not reach the scope (and through it the
  // store, which could hand a timed-out handler a fresh transaction).
  readonly #scope: HandlerScope
  readonly #handler: string
  #log: Logger | undefined
  readonly attempt: number
  readonly trigger: HandlerContext['trigger']
  readonly dialect: HandlerContext['dialect']

  constructor(
    scope: HandlerScope,
    handler: string,
    attempt: number,
    trigger: HandlerContext['trigger'],
    dialect: HandlerContext['dialect'],
  ) {
    this.#scope = scope
    this.#handler = handler
    this.attempt = attempt
    this.trigger = trigger
    this.dialect = dialect
  }

  get tx(): HandlerTx {
    return this.#scope.tx()
  }

  get log(): Logger {
    this.#log ??= this.#scope.log().child({ handler: this.#handler })
    return this.#log
  }

  // A getter returning the scope's function, so `const { isStale } = ctx` works like `ctx.isStale(…)`.
  get isStale(): HandlerContext['isStale'] {
    return this.#scope.isStale
  }
}

/** Runs one handler, rejecting with a HandlerTimeoutError if it has not settled within `ms`. */
function runWithTimeout(handler: LoadedHandler, event: HandlerEvent, ctx: HandlerContext, ms: number) {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new HandlerTimeoutError(handler.name, ms)), ms)
    const fail = (err: unknown) => {
      clearTimeout(timer)
      reject(err)
    }
    let result: unknown
    try {
      result = handler.handle(event, ctx)
    } catch (err) {
      fail(err)
      return
    }
    Promise.resolve(result).then(() => {
      clearTimeout(timer)
      resolve()
    }, fail)
  })
}

export interface RunHandlersOptions {
  event: HandlerEvent
  handlers: readonly LoadedHandler[]
  scope: HandlerScope
  attempt: number
  trigger: HandlerContext['trigger']
  dialect: HandlerContext['dialect']
  timeoutMs: number
}

/** Resolves with the names of the handlers that ran; rejects with a HandlerFailure at the first failure. */
export async function runHandlers(options: RunHandlersOptions): Promise<string[]> {
  const ran: string[] = []
  for (const handler of options.handlers) {
    const ctx = new Context(options.scope, handler.name, options.attempt, options.trigger, options.dialect)
    try {
      await runWithTimeout(handler, options.event, ctx, options.timeoutMs)
      await options.scope.checkTransaction()
    } catch (err) {
      throw new HandlerFailure(handler.name, err)
    }
    ran.push(handler.name)
  }
  return ran
}
