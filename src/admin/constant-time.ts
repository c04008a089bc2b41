import { createHash, timingSafeEqual } from 'node:crypto'

/**
 * Compares two secrets in time independent of where they differ and of their lengths: both sides are
 * hashed to a fixed length first, so neither an early mismatch nor a length check leaks anything.
 */
export function constantTimeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest()
  const db = createHash('sha256').update(b, 'utf8').digest()
  return timingSafeEqual(da, db) && a.length === b.length
}
