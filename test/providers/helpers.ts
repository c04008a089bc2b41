/** Small helpers shared by the provider tests: fixtures, deliveries, and AppError assertions. */
import { readFileSync } from 'node:fs'
import { expect } from 'vitest'
import { AppError, type ErrorKind } from '../../src/errors.ts'
import type { RawDelivery } from '../../src/providers/provider.ts'

const FIXTURES = new URL('../fixtures/', import.meta.url)

/** Exact bytes of a file under test/fixtures/. */
export const fixtureBytes = (path: string): Buffer => readFileSync(new URL(path, FIXTURES))
export const fixtureText = (path: string): string => fixtureBytes(path).toString('utf8')

export function delivery(
  body: string | Uint8Array,
  headers: Record<string, string> = {},
  receivedAt = new Date(),
): RawDelivery {
  return {
    headers: new Headers(headers),
    body: typeof body === 'string' ? new TextEncoder().encode(body) : body,
    receivedAt,
  }
}

/** Awaits a promise that must reject with an AppError of `kind` (and `reason`), and returns the error. */
export async function expectAppError(
  promise: Promise<unknown>,
  kind: ErrorKind,
  reason?: string,
): Promise<AppError> {
  const outcome = await promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  )
  if (outcome.ok) throw new Error(`expected AppError ${kind}${reason ? `/${reason}` : ''}, got a result`)
  expect(outcome.error).toBeInstanceOf(AppError)
  const error = outcome.error as AppError
  expect({ kind: error.kind, reason: reason === undefined ? undefined : error.reason }).toEqual({
    kind,
    reason,
  })
  return error
}
