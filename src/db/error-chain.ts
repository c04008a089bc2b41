/**
 * Whether `test` holds for an error or for one of its causes. Drizzle wraps a driver's error as the `cause`
 * of its own "Failed query", so what the driver said (a code, a message) is found a level or more down.
 */
export function inErrorChain(
  err: unknown,
  test: (e: { code?: unknown; message?: unknown }) => boolean,
): boolean {
  let e = err
  // Bounded: a cause chain can be made to loop.
  for (let depth = 0; depth <= 8 && typeof e === 'object' && e !== null; depth++) {
    if (test(e as { code?: unknown; message?: unknown })) return true
    e = (e as { cause?: unknown }).cause
  }
  return false
}
