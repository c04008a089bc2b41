/**
 * The PostgreSQL configuration under scenario (1)'s load (distinct new Stripe events, each validly signed,
 * no-op handler): `pg1` is one service instance, `pg3` three instances started together on the same schema
 * (they migrate once under the service's advisory lock) with the connections split across them and the three
 * loads run concurrently. Each run gets a fresh schema `hb_bench_<random>` in the BENCH_DATABASE_URL (else
 * TEST_DATABASE_URL, else the local default) database, reached through the connection's search_path as
 * test/support/postgres.ts does, and dropped afterwards. After the run every event id acknowledged with a 2xx
 * is looked up in that schema's hookinbox_events.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { prepareHandlers } from './bench-handlers.ts'
import { type LoadResult, percentile, runLoad } from './load.ts'
import type { BenchOptions, PgRunId } from './options.ts'
import { type Child, scratchDir, serviceArgs, spawnChild, waitUntilIdle } from './processes.ts'
import { type RunResult, serviceEnv } from './scenarios.ts'
import { scrapeServiceMetrics } from './service-metrics.ts'
import { type PreparedRequest, stripeRequests } from './stripe-requests.ts'

export const PG_DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test'

export function pgBaseUrl(): string {
  return process.env.BENCH_DATABASE_URL || process.env.TEST_DATABASE_URL || PG_DEFAULT_URL
}

/** The URL without its password, for printing. */
export function redactedUrl(base: string): string {
  try {
    const url = new URL(base)
    if (url.password) url.password = '***'
    return url.toString()
  } catch {
    return '(unparsable URL)'
  }
}

/** As test/support/postgres.ts `urlWithSchema` (not imported: that module warns on import without TEST_DATABASE_URL). */
export function urlWithSchema(base: string, schema: string): string {
  const url = new URL(base)
  url.searchParams.set('options', `-c search_path=${schema}`)
  return url.toString()
}

/** Undefined when PostgreSQL answers `SELECT 1`, else why not. */
export async function postgresUnreachable(base: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: base, connectionTimeoutMillis: 5000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.query('SELECT 1')
    return undefined
  } catch (err) {
    return (err as Error).message || String(err)
  } finally {
    await client.end().catch(() => {})
  }
}

async function withClient<T>(base: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: base })
  client.on('error', () => {})
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end().catch(() => {})
  }
}

export interface PgCheck {
  schema: string
  instances: number
  /** How the connections were split over the instances. */
  connectionsPerInstance: number[]
  /** Rows in hookinbox_events (warm-up and measured run). */
  rows: number
  distinctEventIds: number
  /** Distinct event ids answered 2xx (warm-up and measured run). */
  acknowledged: number
  /** Acknowledged ids without exactly one row (must be 0). */
  acknowledgedMissing: number
  /** Rows for ids no 2xx was seen for (requests in flight when autocannon stopped). */
  unacknowledgedRows: number
  pass: boolean
}

const EVENT_ID = /"id":"(evt_[^"]+)"/

function eventId(request: PreparedRequest): string {
  const m = EVENT_ID.exec(request.body)
  if (!m) throw new Error('a bench Stripe request without an event id')
  return m[1] as string
}

/** `total` connections over `parts` loads as evenly as possible, larger shares first (50 / 3: 17, 17, 16). */
export function splitConnections(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0))
}

function combine(loads: LoadResult[], latencies: number[]): LoadResult {
  const sorted = Float64Array.from(latencies).sort()
  const statusCodes: Record<string, number> = {}
  for (const l of loads)
    for (const [k, v] of Object.entries(l.statusCodes)) statusCodes[k] = (statusCodes[k] ?? 0) + v
  const sum = (f: (l: LoadResult) => number) => loads.reduce((a, l) => a + f(l), 0)
  return {
    responses: sum((l) => l.responses),
    seconds: Math.max(...loads.map((l) => l.seconds)),
    rps: sum((l) => l.rps),
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: percentile(sorted, 100),
    non2xx: sum((l) => l.non2xx),
    statusCodes,
    errors: sum((l) => l.errors),
    timeouts: sum((l) => l.timeouts),
    stoppedEarly: loads.some((l) => l.stoppedEarly),
  }
}

const log = (line: string) => process.stdout.write(`${line}\n`)

export async function runPostgres(
  id: PgRunId,
  options: BenchOptions,
  ceilingRps: number,
  base: string,
): Promise<RunResult & { postgres: PgCheck }> {
  const instances = id === 'pg1' ? 1 : 3
  const connections = splitConnections(options.connections, instances).filter((c) => c > 0)
  const schema = `hb_bench_${randomBytes(6).toString('hex')}`
  await withClient(base, (c) => c.query(`CREATE SCHEMA "${schema}"`))
  const scratch = scratchDir(id)
  const children: Child[] = []
  const notes: string[] = []
  try {
    const url = urlWithSchema(base, schema)
    const handlersDir = prepareHandlers(scratch.path, url, 'noop')
    // Started together: they race for the migration lock; one migrates, the others wait and find it done.
    const started = await Promise.allSettled(
      connections.map((_, i) =>
        spawnChild({
          name: `service (${id}#${i + 1})`,
          args: serviceArgs(),
          cwd: scratch.path,
          env: serviceEnv(url, handlersDir, 'FULL'),
        }),
      ),
    )
    for (const s of started) if (s.status === 'fulfilled') children.push(s.value)
    const failed = started.find((s) => s.status === 'rejected')
    if (failed) throw (failed as PromiseRejectedResult).reason
    const busy = await Promise.all(children.map((c) => waitUntilIdle(c.pid)))
    const startupBusySeconds = Math.max(...busy)
    if (startupBusySeconds >= 1)
      notes.push(`busy for ${startupBusySeconds.toFixed(0)} s after start-up, waited out`)
    const readySeconds = Math.max(...children.map((c) => c.readySeconds))

    const acknowledged = new Set<PreparedRequest>()
    const onAcknowledged = (r: PreparedRequest) => acknowledged.add(r)
    // One shared source: each event goes out exactly once across all instances and connections.
    const loadAll = async (pool: PreparedRequest[], seconds: number, latencies?: number[]) => {
      let i = 0
      const next = () => pool[i++]
      const onLatency = latencies ? (ms: number) => latencies.push(ms) : undefined
      return Promise.all(
        children.map((c, k) =>
          runLoad({
            url: c.url,
            connections: connections[k] as number,
            seconds,
            next,
            onAcknowledged,
            ...(onLatency ? { onLatency } : {}),
          }),
        ),
      )
    }
    // Several processes may together outrun the single-process verification reference.
    const ceiling = ceilingRps * instances
    const spare = options.connections * 4
    let warmupRps = 0
    if (options.warmupSeconds > 0) {
      const warm = stripeRequests(Math.ceil(ceiling * options.warmupSeconds) + spare, 'w')
      warmupRps = (await loadAll(warm, options.warmupSeconds)).reduce((a, l) => a + l.rps, 0)
    }
    const rate = Math.min(ceiling, warmupRps > 0 ? Math.max(warmupRps * 3, 2000) : ceiling)
    const pool = stripeRequests(Math.ceil(rate * options.durationSeconds) + spare, 'n')
    const latencies: number[] = []
    const startUs = Number(process.hrtime.bigint() / 1000n)
    const loads = await loadAll(pool, options.durationSeconds, latencies)
    const window = { startUs, endUs: Number(process.hrtime.bigint() / 1000n) }
    const load = combine(loads, latencies)
    if (load.stoppedEarly) log(`  note: the pre-built pool of ${pool.length} requests ran out early`)
    if (instances > 1)
      notes.push(
        `${instances} loads of ${connections.join('/')} connections run concurrently: req/s summed, latency percentiles over all responses; per instance req/s ${loads.map((l) => Math.round(l.rps).toLocaleString('en')).join(' / ')}, p99 ${loads.map((l) => l.p99Ms.toFixed(2)).join(' / ')} ms`,
      )

    const scraped = await Promise.all(children.map((c) => scrapeServiceMetrics(c.url)))
    const metricsList = scraped.filter((m) => m !== undefined && 'commits' in m)
    const commits = metricsList.reduce((a, m) => a + m.commits, 0)
    const metrics =
      metricsList.length === children.length && commits > 0
        ? {
            commits,
            meanEventsPerCommit:
              metricsList.reduce((a, m) => a + m.commits * m.meanEventsPerCommit, 0) / commits,
            scrapeMs: Math.max(...metricsList.map((m) => m.scrapeMs)),
            memory: metricsList[0]?.memory ?? {},
          }
        : undefined
    const peakRssBytes = Math.max(...children.map((c) => c.rss.peak()))
    const startRssBytes = Math.max(...children.map((c) => c.rss.startRss))
    const codes = await Promise.all(children.map((c) => c.stop()))
    const exitCode = codes.find((c) => c !== 0) ?? 0
    codes.forEach((code, k) => {
      if (code !== 0)
        notes.push(`instance ${k + 1} exited with ${code}: ${children[k]?.output().slice(-500)}`)
    })

    // Correctness, after every instance has stopped (drained and committed).
    const ackIds = [...acknowledged].map(eventId)
    const check = await withClient(urlWithSchema(base, schema), async (c) => {
      const counts = await c.query<{ rows: string; ids: string }>(
        'SELECT count(*) AS rows, count(DISTINCT event_id) AS ids FROM hookinbox_events',
      )
      const matched = await c.query<{ ok: string; rows: string }>(
        `SELECT count(*) FILTER (WHERE n = 1) AS ok, coalesce(sum(n), 0) AS rows FROM (
           SELECT a.id, count(e.seq) AS n FROM unnest($1::text[]) AS a(id)
           LEFT JOIN hookinbox_events e ON e.event_id = a.id AND e.provider = 'stripe' GROUP BY a.id) t`,
        [ackIds],
      )
      const rows = Number(counts.rows[0]?.rows ?? 0)
      const ok = Number(matched.rows[0]?.ok ?? 0)
      const ackRows = Number(matched.rows[0]?.rows ?? 0)
      return {
        schema,
        instances,
        connectionsPerInstance: connections,
        rows,
        distinctEventIds: Number(counts.rows[0]?.ids ?? 0),
        acknowledged: ackIds.length,
        acknowledgedMissing: ackIds.length - ok,
        unacknowledgedRows: rows - ackRows,
        pass: ok === ackIds.length && rows === Number(counts.rows[0]?.ids ?? -1),
      }
    })
    log(formatPgCheck(id, check))

    return {
      id,
      title:
        instances === 1
          ? 'as (1) on PostgreSQL, 1 instance'
          : `as (1) on PostgreSQL, ${instances} instances, ${connections.join('/')} conns, summed`,
      load,
      warmupRps,
      window,
      eventsPerRequest: 1,
      peakRssBytes,
      startRssBytes,
      exitCode,
      notes,
      startupBusySeconds,
      readySeconds,
      ...(children[0] ? { pid: children[0].pid } : {}),
      ...(metrics ? { metrics } : {}),
      postgres: check,
    }
  } finally {
    await Promise.all(children.map((c) => c.stop()))
    scratch.remove()
    await withClient(base, (c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)).catch((err) =>
      log(`  could not drop schema ${schema}: ${(err as Error).message}`),
    )
  }
}

export function formatPgCheck(id: string, c: PgCheck): string {
  const n = (x: number) => x.toLocaleString('en')
  return (
    `  check (${id}) ${c.pass ? 'OK' : 'FAILED'}: ${n(c.acknowledged)} distinct events acknowledged 2xx, ` +
    `${n(c.acknowledged - c.acknowledgedMissing)} of them with exactly one row in ${c.schema}.hookinbox_events; ` +
    `${n(c.rows)} rows, ${n(c.distinctEventIds)} distinct ids, ${n(c.unacknowledgedRows)} rows without a 2xx seen (in flight at stop)`
  )
}
