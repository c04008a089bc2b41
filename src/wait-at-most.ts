/**
 * Waits for `promise`, but no longer than `ms`: resolves with its value, or with `fallback` once the time is
 * up. The timer is cleared as soon as either happens. Callers that must not throw pass a promise that cannot
 * reject (`promise.catch(…)`).
 */
export async function waitAtMost<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined
  const timeUp = new Promise<F>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms)
  })
  try {
    return await Promise.race([promise, timeUp])
  } finally {
    clearTimeout(timer)
  }
}
