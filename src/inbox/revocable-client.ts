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

/** A string literal, a quoted name (SQL's "…", and SQLite's `…` and […]) or a comment. */
const QUOTED_OR_COMMENT = {
  sqlite: /'(?:[^']|'')*'|"(?:[^"]|"")*"|`(?:[^`]|``)*`|\[[^\]]*\]|--[^\n]*|\/\*[\s\S]*?(?:\*\/|$)/g,
  // In PostgreSQL, `…` and […] quote nothing (`a[1]` is an array's element), and in an E'…' string a
  // backslash escapes the quote after it.
  postgres: /\b[Ee]'(?:[^'\\]|\\[\s\S]|'')*'|'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\/\*[\s\S]*?(?:\*\/|$)/g,
}

/**
 * Whether `sql` would end the event's transaction or touch hookinbox's own savepoints: a handler's COMMIT
 * would commit its effects with no record of the event (and, on SQLite, the batch so far, unsynced), so the
 * retry would run it again. Savepoints of the handler's own (nested transactions) stay allowed. String
 * literals and comments are skipped, so `'…; commit'` in a value is no statement.
 */
export function controlsTransaction(sql: string, dialect: 'sqlite' | 'postgres' = 'sqlite'): boolean {
  // One pass, left to right, as SQL reads it: whichever of a string, a quoted name or a comment starts first
  // hides what is inside it (an apostrophe in a comment, `"it's"` as a column name, must not open a string
  // that hides the COMMIT after it). An unterminated one hides nothing, so what follows is still checked.
  const code = sql.replace(QUOTED_OR_COMMENT[dialect], (token) => {
    if (token[0] === "'" || token[1] === "'") return "''"
    if (token[0] === '-' || token[0] === '/') return ' '
    // A quoted name keeps its letters (`SAVEPOINT "hookinbox_event"` is still ours), nothing that reads as code.
    return `"${token.slice(1, -1).replace(/\W/g, '_')}"`
  })
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

/** A statement's iterator (`stmt.iterate()`), told apart from rows and arrays by its methods. */
const isIterator = (v: unknown): v is IterableIterator<unknown> =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as Iterator<unknown>).next === 'function' &&
  typeof (v as Iterator<unknown>).return === 'function'

export function revocableClient(db: Database.Database): RevocableClient {
  let live = true
  let asyncCallback = false
  /**
   * Iterators a handler opened. While one is open, better-sqlite3 refuses every other statement on the
   * connection: the undo of a timed-out handler, the event's record, the COMMIT, and the ROLLBACK of the
   * refused batch, which then stayed open and refused every later delivery. They are closed on revoke().
   */
  const iterators = new Set<IterableIterator<unknown>>()
  const check = () => {
    if (!live) throw new RevokedTransactionError()
    requireTransaction(db)
  }

  /** The connection, guarded: what it hands out (statements, transaction functions) is guarded too (wrap). */
  const guardConnection = (connection: Database.Database): Database.Database => {
    const proxy: Database.Database = new Proxy(connection, {
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
          return result === t ? proxy : wrap(result)
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

  /**
   * A statement, guarded. Not a Proxy of the statement itself: its `database` is a read-only property, which a
   * Proxy must hand out unchanged, so a handler could reach the unguarded connection through it and write
   * after its timeout, in autocommit. Here `database` is the guarded connection.
   */
  const guardStatement = (statement: Database.Statement): Database.Statement => {
    const guarded: Database.Statement = new Proxy(Object.create(null) as Database.Statement, {
      get(_target, prop) {
        if (prop === 'database') return client
        const value = Reflect.get(statement, prop, statement) as unknown
        if (typeof value !== 'function') return value
        return (...args: unknown[]) => {
          check()
          const result = (value as (...a: unknown[]) => unknown).apply(statement, args)
          if (result === statement) return guarded
          if (isIterator(result)) iterators.add(result)
          return result
        }
      },
      has: (_target, prop) => Reflect.has(statement, prop),
      getPrototypeOf: () => Reflect.getPrototypeOf(statement),
    })
    return guarded
  }

  const wrap = (result: unknown): unknown => {
    if (isStatement(result)) return guardStatement(result)
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

  const client = guardConnection(db)
  return {
    client,
    revoke() {
      live = false
      for (const iterator of iterators) {
        try {
          iterator.return?.()
        } catch {
          // already closed
        }
      }
      iterators.clear()
    },
    check() {
      if (asyncCallback) throw new AsyncTransactionCallbackError()
    },
  }
}
