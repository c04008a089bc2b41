/**
 * Posts the signed copies with the global fetch, `concurrency` at a time. A connection failure stops the
 * copies not yet started (they would all fail the same way); HTTP errors do not, so every answer is shown.
 */
import type { Signer } from './signed-request.ts'

export interface Delivery {
  /** 1-based copy number. */
  n: number
  ms: number
  /** Size of the request body in bytes. */
  bytes: number
  status?: number
  /** The answer's body text (the service never puts secrets in it). */
  text?: string
  /** Set when no HTTP answer came back. */
  error?: { code: string; message: string }
}

export interface DeliverOptions {
  endpoint: string
  copies: number
  concurrency: number
  sign: Signer
  now?: () => Date
  timeoutMs?: number
  onDelivery?: (delivery: Delivery) => void
}

export const DEFAULT_TIMEOUT_MS = 30_000

/** The system error code under fetch's generic "fetch failed" (ECONNREFUSED, ENOTFOUND…). */
function networkError(err: unknown): { code: string; message: string } {
  const e = err as { name?: string; message?: string; cause?: unknown }
  if (e.name === 'TimeoutError' || e.name === 'AbortError')
    return { code: 'TIMEOUT', message: 'no answer in time' }
  const cause = e.cause as { code?: unknown; message?: string; errors?: { code?: unknown }[] } | undefined
  const code = cause?.code ?? cause?.errors?.find((x) => typeof x.code === 'string')?.code
  return {
    code: typeof code === 'string' ? code : 'FETCH_FAILED',
    message: cause?.message ?? e.message ?? String(err),
  }
}

async function deliverOne(n: number, options: DeliverOptions): Promise<Delivery> {
  const { body, headers } = options.sign((options.now ?? (() => new Date()))())
  const bytes = Buffer.byteLength(body, 'utf8')
  const started = performance.now()
  const elapsed = () => Math.round(performance.now() - started)
  try {
    const response = await fetch(options.endpoint, {
      method: 'POST',
      body,
      headers: { 'user-agent': 'hookinbox-send', ...headers },
      redirect: 'manual',
      signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    })
    const text = await response.text()
    return { n, ms: elapsed(), bytes, status: response.status, text }
  } catch (err) {
    return { n, ms: elapsed(), bytes, error: networkError(err) }
  }
}

export async function deliverAll(
  options: DeliverOptions,
): Promise<{ deliveries: Delivery[]; skipped: number }> {
  const deliveries: Delivery[] = []
  let next = 1
  let stopped = false
  const worker = async () => {
    while (!stopped && next <= options.copies) {
      const n = next++
      const delivery = await deliverOne(n, options)
      if (delivery.error) stopped = true
      deliveries.push(delivery)
      options.onDelivery?.(delivery)
    }
  }
  const workers = Math.max(1, Math.min(options.concurrency, options.copies))
  await Promise.all(Array.from({ length: workers }, worker))
  deliveries.sort((a, b) => a.n - b.n)
  return { deliveries, skipped: options.copies - deliveries.length }
}
