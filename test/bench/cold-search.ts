/**
 * Deliveries during the admin's worst search on the scale database, read from a cold disk: a time window
 * 99 days back matches only the oldest events, so the list walks nearly all 10 million newest first. The
 * page cache is dropped first (Linux, as root; otherwise the search runs warm and the report says so).
 * Meanwhile deliveries go one at a time, as a provider's steady traffic would, and each one's latency is
 * kept: the search must not show in them. It stops after `maxSeconds` whether or not the search is done.
 */
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { BENCH_ADMIN_TOKEN } from './admin-latency.ts'
import { percentile } from './load.ts'
import { stripeRequests } from './stripe-requests.ts'

export interface ColdSearch {
  /** Whether the page cache was dropped before the search. */
  cold: boolean
  /** The search's duration, or undefined when it had not finished after `maxSeconds`. */
  searchMs: number | undefined
  searchStatus: number | undefined
  deliveries: number
  deliveryStatuses: Record<string, number>
  p50Ms: number
  p99Ms: number
  maxMs: number
}

function dropPageCache(): boolean {
  try {
    execFileSync('sync')
    writeFileSync('/proc/sys/vm/drop_caches', '1')
    return true
  } catch {
    return false
  }
}

export async function measureColdSearch(
  baseUrl: string,
  generatedAt: number,
  maxSeconds = 20,
): Promise<ColdSearch> {
  const until = new Date(generatedAt - 99 * 86_400_000).toISOString()
  const requests = stripeRequests(40_000, 'c')
  const cold = dropPageCache()
  const started = performance.now()
  let searchMs: number | undefined
  let searchStatus: number | undefined
  // node:http on a connection of its own, destroyed if the search is not done in time: an aborted fetch may
  // leave its connection open, and the service's stop then waits for it.
  const search = request(`${baseUrl}/admin/api/events?until=${encodeURIComponent(until)}&limit=50`, {
    headers: { authorization: `Bearer ${BENCH_ADMIN_TOKEN}` },
    agent: false,
  })
  const searched = new Promise<void>((resolve) => {
    search.on('response', (res) => {
      res.resume()
      res.on('end', () => {
        searchStatus = res.statusCode
        searchMs = performance.now() - started
        resolve()
      })
    })
    search.on('error', () => resolve())
    search.on('close', () => resolve())
  })
  search.end()

  const times: number[] = []
  const statuses: Record<string, number> = {}
  for (const request of requests) {
    if (searchMs !== undefined || performance.now() - started > maxSeconds * 1000) break
    const sent = performance.now()
    const res = await fetch(`${baseUrl}${request.path}`, {
      method: request.method,
      headers: request.headers,
      body: request.body,
    })
    await res.arrayBuffer()
    times.push(performance.now() - sent)
    statuses[res.status] = (statuses[res.status] ?? 0) + 1
  }
  if (searchMs === undefined) search.destroy()
  await searched
  const sorted = [...times].sort((a, b) => a - b)
  return {
    cold,
    searchMs,
    searchStatus,
    deliveries: times.length,
    deliveryStatuses: statuses,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: percentile(sorted, 100),
  }
}
