/**
 * A handler gets a Drizzle database bound to its event's transaction. When the handler times out, the event
 * is rolled back, but the handler's promise may go on running; if it could still write, its late writes
 * would land in whatever transaction is open next (another event's), or in autocommit. So every handler gets
 * its own view of the writer connection that can be revoked: after `revoke()`, every call on the connection,
 * and on any statement prepared through it, throws. So does every call once SQLite has rolled the transaction
 * back on its own (TransactionLostError).
 */
import type Database from 'better-sqlite3'

export class RevokedTransactionError extends Error {
  constructor() {
    super(
      'this transaction has ended (the handler timed out or already finished): ctx.tx can no longer be used',
    )
    this.name = 'RevokedTransactionError'
  }
}

/**
 * Some SQLite errors (disk full, I/O) roll back the whole transaction by themselves. A statement run after
 * that would run in autocommit: written at once, outside the event's transaction, and never synced through
 * the inbox. So a handler that swallowed such an error, and the inbox itself, are stopped by this instead.
 */
export class TransactionLostError extends Error {
  constructor() {
    super(
      'the write transaction was rolled back by SQLite (disk full or I/O error); nothing more is written in it',
    )
    this.name = 'TransactionLostError'
  }
}

/** Throws TransactionLostError unless `db` is inside a transaction (every write of an attempt or a batch). */
export function requireTransaction(db: Database.Database): void {
  if (!db.inTransaction) throw new TransactionLostError()
}

/** A handler tried to end or step outside the event's transaction (see controlsTransaction). */
export class TransactionControlError extends Error {
  constructor() {
    super(
      "ctx.tx is the event's transaction: BEGIN, COMMIT, END, ROLLBACK and hookinbox's own savepoints are not allowed in it",
    )
    this.name = 'TransactionControlError'
  }
}

/**
 * Whether `sql` would end the event's transaction or touch hookinbox's own savepoints: a handler's COMMIT
 * would commit its effects with no record of the event (and, on SQLite, the batch so far, unsynced), so the
 * retry would run it again. Savepoints of the handler's own (nested transactions) stay allowed. String
 * literals and comments are skipped, so `'…; commit'` in a value is no statement.
 */
export function controlsTransaction(sql: string): boolean {
  const code = sql
    .replace(/'(?:[^']|'')*'/g, "''")
    .replace(/\/\*[\s\S]*?(?:\*\/|$)/g, ' ')
    .replace(/--[^\n]*/g, ' ')
  return code.split(';').some((part) => {
    const statement = part.trim()
    if (/^(BEGIN|COMMIT|END|START\s+TRANSACTION|ABORT)\b/i.test(statement)) return true
    if (/^ROLLBACK\b(?!\s+(?:TRANSACTION\s+|WORK\s+)?TO\b)/i.test(statement)) return true
    return /^(SAVEPOINT|RELEASE|ROLLBACK)\b/i.test(statement) && /hookinbox_/i.test(statement)
  })
}

/** A handler gave `ctx.tx.transaction()` an async callback: better-sqlite3 cannot hold a savepoint across it. */
export class AsyncTransactionCallbackError extends Error {
  constructor() {
    super(
      'ctx.tx.transaction() needs a synchronous callback on SQLite (this one returned a promise): run its queries with .run(), .all() or .get() instead of await, or write them without the group',
    )
    this.name = 'AsyncTransactionCallbackError'
  }
}

export interface RevocableClient {
  client: Database.Database
  revoke(): void
  /** Throws if a handler gave `transaction()` an async callback, even when the handler caught the error. */
  check(): void
}

const TRANSACTION_VARIANTS = ['default', 'deferred', 'immediate', 'exclusive'] as const
type TransactionFunction = ((...a: unknown[]) => unknown) &
  Record<(typeof TRANSACTION_VARIANTS)[number], (...a: unknown[]) => unknown>

const isStatement = (v: unknown): v is Database.Statement =>
  typeof v === 'object' && v !== null && typeof (v as Database.Statement).run === 'function'

export function revocableClient(db: Database.Database): RevocableClient {
  let live = true
  let asyncCallback = false
  const check = () => {
    if (!live) throw new RevokedTransactionError()
    requireTransaction(db)
  }

  const guard = <T extends object>(target: T, wrapResult: (result: unknown, self: T) => unknown): T => {
    const proxy: T = new Proxy(target, {
      get(t, prop) {
        const value = Reflect.get(t, prop, t) as unknown
        if (typeof value !== 'function') return value
        return (...args: unknown[]) => {
          check()
          if (
            (prop === 'prepare' || prop === 'exec') &&
            typeof args[0] === 'string' &&
            controlsTransaction(args[0])
          )
            throw new TransactionControlError()
          if (prop === 'transaction' && typeof args[0] === 'function')
            args[0] = synchronousOnly(args[0] as (...a: unknown[]) => unknown)
          const result = (value as (...a: unknown[]) => unknown).apply(t, args)
          return result === t ? proxy : wrapResult(result, t)
        }
      },
    })
    return proxy
  }

  /**
   * better-sqlite3 ends the savepoint as soon as a transaction callback returns, and refuses a promise with a
   * bare TypeError. An async callback goes on running after that: its later statements fail (once the handler
   * is over) and reject a promise nobody holds, an unhandled rejection that would stop the whole process. So
   * its rejection is absorbed here, and the handler fails with a message that says what to do.
   */
  const synchronousOnly = (callback: (...a: unknown[]) => unknown) =>
    function (this: unknown, ...a: unknown[]) {
      const result = callback.apply(this, a)
      if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') {
        // Only a real promise is listened to: calling then() on another thenable would run it (a Drizzle
        // query returned unawaited, `(tx) => tx.insert(…)`, would execute outside the group).
        if (result instanceof Promise) result.catch(() => {})
        asyncCallback = true
        throw new AsyncTransactionCallbackError()
      }
      return result
    }

  const wrap = (result: unknown): unknown => {
    if (isStatement(result)) return guard(result, (r) => r)
    if (typeof result === 'function') {
      // db.transaction(fn) returns a function with .deferred/.immediate/.exclusive/.default variants, which
      // are read-only properties, so a Proxy may not hand out guarded ones (it throws a TypeError instead):
      // a plain function of our own, with guarded variants. Inside the event's transaction, better-sqlite3
      // runs it as a savepoint.
      const fn = result as TransactionFunction
      const guarded = (variant: (...a: unknown[]) => unknown) =>
        function (this: unknown, ...args: unknown[]) {
          check()
          return variant.apply(this, args)
        }
      const wrapped = guarded(fn)
      for (const name of TRANSACTION_VARIANTS) {
        if (typeof fn[name] === 'function') Object.defineProperty(wrapped, name, { value: guarded(fn[name]) })
      }
      return wrapped
    }
    return result
  }

  return {
    client: guard(db, wrap),
    revoke() {
      live = false
    },
    check() {
      if (asyncCallback) throw new AsyncTransactionCallbackError()
    },
  }
}
