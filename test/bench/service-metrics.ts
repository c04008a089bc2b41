/**
 * Reads the service's own /metrics after a run: how many events each group commit carried (the
 * hookinbox_commit_batch_size histogram over the process's life, warm-up and pre-loading included), and
 * how long the scrape took (on a large database the event-count gauge scans an index), and the process's
 * heap figures, which split the RSS into V8 heap and the rest (SQLite caches, the tsx loader thread, code).
 */
export interface ServiceMetrics {
  commits: number
  meanEventsPerCommit: number
  scrapeMs: number
  /** prom-client's process figures at the end of the run, to split the RSS (bytes). */
  memory: { rss?: number; heapTotal?: number; heapUsed?: number; external?: number }
}

/** The scrape did not answer within the timeout (the service is still busy with it). */
export interface ScrapeTimeout {
  timedOutAfterMs: number
}

function sample(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text)
  return m ? Number(m[1]) : undefined
}

export async function scrapeServiceMetrics(
  baseUrl: string,
  timeoutMs = 5000,
): Promise<ServiceMetrics | ScrapeTimeout | undefined> {
  const started = performance.now()
  let res: Response
  let text: string
  try {
    res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(timeoutMs) })
    text = await res.text()
  } catch (err) {
    if ((err as Error).name === 'TimeoutError') return { timedOutAfterMs: timeoutMs }
    throw err
  }
  const scrapeMs = performance.now() - started
  if (!res.ok) return undefined
  const sum = sample(text, 'hookinbox_commit_batch_size_sum')
  const count = sample(text, 'hookinbox_commit_batch_size_count')
  if (sum === undefined || count === undefined) return undefined
  const memory = {
    rss: sample(text, 'process_resident_memory_bytes'),
    heapTotal: sample(text, 'nodejs_heap_size_total_bytes'),
    heapUsed: sample(text, 'nodejs_heap_size_used_bytes'),
    external: sample(text, 'nodejs_external_memory_bytes'),
  }
  return { commits: count, meanEventsPerCommit: count > 0 ? sum / count : 0, scrapeMs, memory }
}
