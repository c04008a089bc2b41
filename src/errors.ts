import { HTTPException } from 'hono/http-exception'
import { isDatabaseUnavailable } from './db/unavailable.ts'

/**
 * Errors are values: every failure a request can meet is an AppError with a kind, an HTTP status and a
 * message that is safe to send to the caller (never a secret, key, signature or payload). They are turned
 * into responses in exactly one place (`toResponse` below, used by the app's error handler).
 */
export type ErrorKind =
  | 'not_found'
  | 'not_configured'
  | 'method_not_allowed'
  | 'unauthorized'
  | 'forbidden'
  | 'invalid_signature'
  | 'invalid_event'
  | 'invalid_request'
  | 'payload_too_large'
  | 'client_aborted'
  | 'conflict'
  | 'handler_failed'
  | 'verification_unavailable'
  | 'storage_unavailable'
  | 'overloaded'
  | 'internal'

const STATUS: Record<ErrorKind, number> = {
  not_found: 404,
  not_configured: 404,
  method_not_allowed: 405,
  unauthorized: 401,
  forbidden: 403,
  invalid_signature: 400,
  invalid_event: 400,
  invalid_request: 400,
  payload_too_large: 413,
  // Nobody reads this answer: the client hung up before its body was complete.
  client_aborted: 400,
  conflict: 409,
  handler_failed: 500,
  verification_unavailable: 503,
  storage_unavailable: 503,
  // Too much verified work is waiting already (see src/webhooks/admission.ts); the provider retries.
  overloaded: 503,
  internal: 500,
}

export class AppError extends Error {
  readonly kind: ErrorKind
  readonly status: number
  /** A short machine-readable reason for logs and metrics, e.g. `missing_header`, `stale_timestamp`. */
  readonly reason: string
  readonly headers: Record<string, string>

  constructor(
    kind: ErrorKind,
    message: string,
    options: { reason?: string; cause?: unknown; headers?: Record<string, string> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AppError'
    this.kind = kind
    this.status = STATUS[kind]
    this.reason = options.reason ?? kind
    this.headers = options.headers ?? {}
  }
}

export const isAppError = (err: unknown): err is AppError => err instanceof AppError

/** The one error for "the database cannot be used just now": 503, so the provider (or operator) retries. */
export const storageError = (cause: unknown) =>
  new AppError('storage_unavailable', 'the event store is unavailable; retry later', { cause })

const KIND_BY_STATUS: Record<number, ErrorKind> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  503: 'storage_unavailable',
}

/**
 * Middleware from Hono (csrf, body limits, …) throws HTTPException-like errors with a status; they become
 * AppErrors with a generic message for that status. A database out of reach is storage_unavailable (503);
 * anything else is an internal error.
 */
export function asAppError(err: unknown): AppError {
  if (isAppError(err)) return err
  if (err instanceof HTTPException) {
    const kind = KIND_BY_STATUS[err.status] ?? 'internal'
    return new AppError(kind, kind === 'internal' ? 'internal error' : kind.replace(/_/g, ' '), {
      cause: err,
    })
  }
  // A database out of reach is not a bug in the request's path (the admin API's reads meet it, say).
  if (isDatabaseUnavailable(err)) return storageError(err)
  return new AppError('internal', 'internal error', { cause: err })
}

/** The single mapping from an error value to an HTTP response. Unknown errors never leak their message. */
export function toResponse(err: unknown): Response {
  const appError = asAppError(err)
  return new Response(JSON.stringify({ error: appError.message }), {
    status: appError.status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...appError.headers },
  })
}
