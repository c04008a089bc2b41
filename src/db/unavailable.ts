/**
 * Whether an error says the database cannot be reached or takes no more work just now, as opposed to a
 * query that is wrong: the first is answered 503 (retry later), the second is a 500 and a bug to look at.
 * Drizzle wraps a driver's error as the `cause` of its own, so causes are followed.
 */
import { inErrorChain } from './error-chain.ts'

/** Node's codes for a connection that could not be made or was lost. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
])

/**
 * PostgreSQL's SQLSTATE classes 08 (connection exception), 53 (insufficient resources: too many clients,
 * disk full, out of memory) and 58 (system error: I/O), and 57P01–57P05 (shut down by the administrator or a
 * crash, cannot connect now, idle session timeout).
 */
const PG_UNAVAILABLE = /^(?:(?:08|53|58)[0-9A-Z]{3}|57P0[1-5])$/

/** The code of the error a query gets when the admin's read thread stopped under it (see read-thread.ts). */
export const READ_THREAD_STOPPED = 'HOOKINBOX_READ_THREAD_STOPPED'

/** SQLite's: the file is locked, unreadable, full, cannot be opened, or memory ran out. */
const SQLITE_UNAVAILABLE = /^SQLITE_(?:BUSY|LOCKED|IOERR|FULL|CANTOPEN|NOMEM)/

/** node-postgres's own errors for a lost connection, a pool that found none in time, a query timeout. */
const PG_CLIENT_MESSAGES =
  /^(?:Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error)/

export const isDatabaseUnavailable = (err: unknown): boolean =>
  inErrorChain(
    err,
    ({ code, message }) =>
      (typeof code === 'string' &&
        (CONNECTION_CODES.has(code) ||
          PG_UNAVAILABLE.test(code) ||
          SQLITE_UNAVAILABLE.test(code) ||
          code === READ_THREAD_STOPPED)) ||
      (typeof message === 'string' && PG_CLIENT_MESSAGES.test(message)),
  )
