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

export interface RevocableClient {
  client: Database.Database
  revoke(): void
}

const isStatement = (v: unknown): v is Database.Statement =>
  typeof v === 'object' && v !== null && typeof (v as Database.Statement).run === 'function'

export function revocableClient(db: Database.Database): RevocableClient {
  let live = true
  const check = () => {
    if (!live) throw new RevokedTransactionError()
    if (!db.inTransaction) throw new TransactionLostError()
  }

  const guard = <T extends object>(target: T, wrapResult: (result: unknown, self: T) => unknown): T => {
    const proxy: T = new Proxy(target, {
      get(t, prop) {
        const value = Reflect.get(t, prop, t) as unknown
        if (typeof value !== 'function') return value
        return (...args: unknown[]) => {
          check()
          const result = (value as (...a: unknown[]) => unknown).apply(t, args)
          return result === t ? proxy : wrapResult(result, t)
        }
      },
    })
    return proxy
  }

  const wrap = (result: unknown): unknown => {
    if (isStatement(result)) return guard(result, (r) => r)
    if (typeof result === 'function') {
      // db.transaction(fn) returns a function (with .deferred/.immediate variants): guard its calls too.
      const fn = result as (...a: unknown[]) => unknown
      return new Proxy(fn, {
        apply(t, thisArg, args) {
          check()
          return Reflect.apply(t, thisArg, args)
        },
        get(t, prop) {
          const value = Reflect.get(t, prop, t) as unknown
          if (typeof value !== 'function') return value
          return (...args: unknown[]) => {
            check()
            return (value as (...a: unknown[]) => unknown).apply(t, args)
          }
        },
      })
    }
    return result
  }

  return {
    client: guard(db, wrap),
    revoke() {
      live = false
    },
  }
}
