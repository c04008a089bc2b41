/**
 * Runs an event's matching handlers one after another, each bounded by the handler timeout. Storage-neutral:
 * the caller opens the transaction (or savepoint), hands in the `tx` the handlers write through, and commits
 * or rolls back depending on the result.
 */
import type { Logger } from 'pino'
import type { HandlerContext, HandlerEvent, HandlerTx } from '../handlers.ts'
import type { LoadedHandler } from '../registry/handler-registry.ts'

export class HandlerTimeoutError extends Error {
  constructor(handler: string, ms: number) {
    super(`handler "${handler}" timed out after ${ms} ms`)
    this.name = 'HandlerTimeoutError'
  }
}

/** A handler's failure, with the handler's name, so operators see which one threw. */
export class HandlerFailure extends Error {
  constructor(
    readonly handler: string,
    readonly error: unknown,
  ) {
    const message = error instanceof Error ? error.message : String(error)
    super(`${handler}: ${message}`)
    this.name = 'HandlerFailure'
  }

  /** PermanentError is recognised by name, so a handler bundling its own copy of this module still parks. */
  get permanent(): boolean {
    return errorName(this.error) === 'PermanentError'
  }
}

const errorName = (e: unknown) => (e instanceof Error ? e.name : undefined)

async function withTimeout<T>(run: () => Promise<T> | T, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms)
  })
  try {
    return await Promise.race([Promise.resolve().then(run), timeout])
  } finally {
    clearTimeout(timer)
  }
}

export interface RunHandlersOptions {
  event: HandlerEvent
  handlers: readonly LoadedHandler[]
  /** The handlers' transaction handle, made on first use. */
  tx: () => HandlerTx
  /** The event's logger, made on first use. */
  log: () => Logger
  attempt: number
  trigger: HandlerContext['trigger']
  dialect: HandlerContext['dialect']
  isStale: HandlerContext['isStale']
  timeoutMs: number
}

/** Resolves with the names of the handlers that ran; rejects with a HandlerFailure at the first failure. */
export async function runHandlers(options: RunHandlersOptions): Promise<string[]> {
  const ran: string[] = []
  for (const handler of options.handlers) {
    // `tx` and `log` cost a Drizzle instance and pino children per event: made on first use only.
    let log: Logger | undefined
    const ctx: HandlerContext = {
      get tx() {
        return options.tx()
      },
      get log() {
        log ??= options.log().child({ handler: handler.name })
        return log
      },
      attempt: options.attempt,
      trigger: options.trigger,
      dialect: options.dialect,
      isStale: options.isStale,
    }
    try {
      await withTimeout(
        () => handler.handle(options.event, ctx),
        options.timeoutMs,
        () => new HandlerTimeoutError(handler.name, options.timeoutMs),
      )
    } catch (err) {
      throw new HandlerFailure(handler.name, err)
    }
    ran.push(handler.name)
  }
  return ran
}
