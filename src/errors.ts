/**
 * Errors are values: every failure a request can meet is an AppError with a kind, an HTTP status and a
 * message that is safe to send to the caller (never a secret, key, signature or payload). They are turned
 * into responses in exactly one place (`toResponse` below, used by the app's error handler).
 */
export type ErrorKind =
  | 'not_found'
  | 'not_configured'
  | 'unauthorized'
  | 'invalid_signature'
  | 'invalid_event'
  | 'invalid_request'
  | 'payload_too_large'
  | 'conflict'
  | 'handler_failed'
  | 'verification_unavailable'
  | 'storage_unavailable'
  | 'internal'

const STATUS: Record<ErrorKind, number> = {
  not_found: 404,
  not_configured: 404,
  unauthorized: 401,
  invalid_signature: 400,
  invalid_event: 400,
  invalid_request: 400,
  payload_too_large: 413,
  conflict: 409,
  handler_failed: 500,
  verification_unavailable: 503,
  storage_unavailable: 503,
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

/** The single mapping from an error value to an HTTP response. Unknown errors never leak their message. */
export function toResponse(err: unknown): Response {
  const appError = isAppError(err) ? err : new AppError('internal', 'internal error')
  return new Response(JSON.stringify({ error: appError.message }), {
    status: appError.status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...appError.headers },
  })
}
