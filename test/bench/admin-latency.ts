/**
 * Latency of the admin event list on the scale database, one request at a time (an operator's browser, not
 * a load test). The first request of each query is reported on its own: it may read cold pages.
 */
import { percentile } from './load.ts'

export const BENCH_ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef'

export const ADMIN_QUERIES: ReadonlyArray<{ name: string; query: string }> = [
  { name: 'first page', query: 'limit=50' },
  { name: 'status=failed', query: 'status=failed&limit=50' },
  { name: 'provider=stripe', query: 'provider=stripe&limit=50' },
  { name: 'status=failed&provider=stripe', query: 'status=failed&provider=stripe&limit=50' },
  // A rare status with a less common provider: the worst case when the wrong index is walked.
  { name: 'status=parked&provider=paypal', query: 'status=parked&provider=paypal&limit=50' },
]

export interface AdminLatency {
  name: string
  path: string
  requests: number
  firstMs: number
  p50Ms: number
  p99Ms: number
  maxMs: number
  /** Events on the first page (a sanity check that the filter matched something). */
  rows: number
  statuses: Record<string, number>
}

export async function measureAdminList(baseUrl: string, repeat = 50): Promise<AdminLatency[]> {
  const results: AdminLatency[] = []
  for (const { name, query } of ADMIN_QUERIES) {
    const path = `/admin/api/events?${query}`
    const times: number[] = []
    const statuses: Record<string, number> = {}
    let rows = 0
    for (let i = 0; i < repeat; i++) {
      const started = performance.now()
      const res = await fetch(`${baseUrl}${path}`, {
        headers: { authorization: `Bearer ${BENCH_ADMIN_TOKEN}` },
      })
      const body = (await res.json()) as { events?: unknown[] }
      times.push(performance.now() - started)
      statuses[res.status] = (statuses[res.status] ?? 0) + 1
      rows = body.events?.length ?? 0
    }
    const sorted = [...times].sort((a, b) => a - b)
    results.push({
      name,
      path,
      requests: repeat,
      firstMs: times[0] ?? 0,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      maxMs: percentile(sorted, 100),
      rows,
      statuses,
    })
  }
  return results
}
