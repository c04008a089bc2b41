/**
 * One load run with autocannon (as a library), fed from pre-built requests.
 *
 * autocannon's `requests` array is replayed per connection, so with 50 connections every event would be sent
 * 50 times. Instead a single dynamic request pulls the next pre-built request from a shared source
 * (`next()`), so each event goes out exactly once across all connections. When the source runs dry the run
 * stops early and says so (its rate is still measured over the time it ran).
 *
 * Latency is recorded from autocannon's per-response event in fractional milliseconds (its own histogram
 * keeps whole milliseconds only, which is too coarse for sub-millisecond medians).
 */
import autocannon from 'autocannon'
import type { PreparedRequest } from './stripe-requests.ts'

export interface LoadResult {
  responses: number
  seconds: number
  rps: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  non2xx: number
  statusCodes: Record<string, number>
  errors: number
  timeouts: number
  /** The pre-built requests ran out before the duration ended. */
  stoppedEarly: boolean
}

export interface LoadSpec {
  url: string
  connections: number
  seconds: number
  next: () => PreparedRequest | undefined
  /** Each response's latency in ms, to pool percentiles over several concurrent loads (the PostgreSQL runs). */
  onLatency?: (ms: number) => void
  /**
   * Each request answered 2xx. A connection sends one request at a time (no pipelining), so a response
   * answers the request that connection last built; kept in autocannon's per-connection context.
   */
  onAcknowledged?: (request: PreparedRequest) => void
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[index] as number
}

export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  let latencies = new Float64Array(1 << 16)
  let count = 0
  const statusCodes: Record<string, number> = {}
  let exhausted = false
  let last: PreparedRequest | undefined
  let instance: autocannon.Instance | undefined

  type Context = { sent?: PreparedRequest }
  const setupRequest = (req: autocannon.Request, context: Context): autocannon.Request => {
    let next = spec.next()
    if (next) last = next
    else {
      // Re-send the last one until stop() takes effect (a handful at most).
      exhausted = true
      instance?.stop()
      next = last
      if (!next) throw new Error('the request source is empty')
    }
    context.sent = next
    // autocannon writes Content-Length into the headers object it gets: hand it a copy.
    return { ...req, method: next.method, path: next.path, headers: { ...next.headers }, body: next.body }
  }

  const acknowledge = (status: number, _body: string, context: object) => {
    const sent = (context as Context).sent
    if (sent && status >= 200 && status < 300) spec.onAcknowledged?.(sent)
  }

  return new Promise<LoadResult>((resolve, reject) => {
    instance = autocannon(
      {
        url: spec.url,
        connections: spec.connections,
        duration: spec.seconds,
        timeout: 30,
        requests: [
          {
            setupRequest: setupRequest as (req: autocannon.Request, context: object) => autocannon.Request,
            ...(spec.onAcknowledged ? { onResponse: acknowledge } : {}),
          },
        ],
      },
      (err, result) => {
        if (err) {
          reject(err)
          return
        }
        const sorted = latencies.subarray(0, count).sort()
        resolve({
          responses: count,
          seconds: result.duration,
          rps: result.duration > 0 ? count / result.duration : 0,
          p50Ms: percentile(sorted, 50),
          p99Ms: percentile(sorted, 99),
          maxMs: percentile(sorted, 100),
          non2xx: result.non2xx,
          statusCodes,
          errors: result.errors,
          timeouts: result.timeouts,
          stoppedEarly: exhausted,
        })
      },
    )
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2)
        grown.set(latencies)
        latencies = grown
      }
      latencies[count++] = responseTime
      spec.onLatency?.(responseTime)
      const key = String(statusCode)
      statusCodes[key] = (statusCodes[key] ?? 0) + 1
    })
  })
}

/** Endless cycle over a fixed set (references, duplicates). */
export function cycle(requests: readonly PreparedRequest[]): () => PreparedRequest {
  let i = 0
  return () => requests[i++ % requests.length] as PreparedRequest
}

/** Each request once, then undefined. */
export function once(requests: readonly PreparedRequest[]): () => PreparedRequest | undefined {
  let i = 0
  return () => requests[i++]
}

/**
 * Sends every request exactly once with bounded concurrency (fetch, keep-alive) and counts the statuses.
 * Used outside measurements: pre-loading events before the duplicate scenarios, and the race check.
 */
export async function sendAll(
  baseUrl: string,
  requests: readonly PreparedRequest[],
  concurrency: number,
): Promise<Record<string, number>> {
  const statuses: Record<string, number> = {}
  let i = 0
  const worker = async () => {
    for (;;) {
      const req = requests[i++]
      if (!req) return
      let key: string
      try {
        const res = await fetch(`${baseUrl}${req.path}`, {
          method: req.method,
          headers: req.headers,
          body: req.body,
        })
        await res.arrayBuffer()
        key = String(res.status)
      } catch (err) {
        key = `error: ${(err as Error).message}`
      }
      statuses[key] = (statuses[key] ?? 0) + 1
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, requests.length) }, worker))
  return statuses
}
