/**
 * The two ways a PayPal delivery can fail verification, as AppErrors. Kept in one place so every module
 * uses the same kinds: a forged or malformed delivery is a 400 that PayPal would not fix by retrying; a
 * failure on PayPal's side (certificate host down, API unreachable) is a 503 so PayPal retries later.
 * Messages are fixed strings: never a header value, signature, token or body.
 */
import { AppError } from '../../errors.ts'

export const rejected = (reason: string, message: string): AppError =>
  new AppError('invalid_signature', message, { reason })

export const unavailable = (reason: string, message: string, cause?: unknown): AppError =>
  new AppError('verification_unavailable', message, { reason, cause })
