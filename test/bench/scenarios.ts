/**
 * The seven service scenarios of the issue. Each starts the real service (`node --import tsx
 * src/server.ts`) as a fresh process on a fresh SQLite file (scenario 7: the cached scale file), with its own
 * handler folder, LOG_LEVEL=warn and STRIPE_TOLERANCE_SECONDS=86400.
 */
import { join } from 'node:path'
import { type AdminLatency, BENCH_ADMIN_TOKEN, measureAdminList } from './admin-latency.ts'
import { ADYEN_ITEMS_PER_REQUEST, adyenRequests, BENCH_ADYEN_KEY } from './adyen-requests.ts'
import { type HandlerKind, prepareHandlers } from './bench-handlers.ts'
import { type ColdSearch, measureColdSearch } from './cold-search.ts'
import type { CpuPerRequest } from './cpu-time.ts'
import { cycle, type LoadResult, sendAll } from './load.ts'
import type { BenchOptions, ScenarioNumber } from './options.ts'
import type { PgCheck } from './postgres-runs.ts'
import { type Child, scratchDir, serviceArgs, spawnChild, waitUntilIdle } from './processes.ts'
import { resetScaleDb, type ScaleDb, scaleServiceEnv } from './scale-db.ts'
import { type ServiceMetrics, scrapeServiceMetrics } from './service-metrics.ts'
import { BENCH_STRIPE_SECRET, BENCH_TOLERANCE_SECONDS, stripeRequests } from './stripe-requests.ts'
import { measureCycle, measureFresh } from './traffic.ts'

export interface ScenarioSpec {
  n: ScenarioNumber
  title: string
  synchronous: 'FULL' | 'NORMAL'
  handler: HandlerKind
  traffic: 'new' | 'duplicates' | 'mix' | 'adyen'
  scale?: boolean
}

export const SCENARIOS: Record<ScenarioNumber, ScenarioSpec> = {
  1: {
    n: 1,
    title: 'new Stripe events, no-op handler, FULL',
    synchronous: 'FULL',
    handler: 'noop',
    traffic: 'new',
  },
  2: {
    n: 2,
    title: 'new Stripe events, no-op handler, NORMAL',
    synchronous: 'NORMAL',
    handler: 'noop',
    traffic: 'new',
  },
  3: {
    n: 3,
    title: 'duplicates only (pre-loaded), FULL',
    synchronous: 'FULL',
    handler: 'noop',
    traffic: 'duplicates',
  },
  4: {
    n: 4,
    title: '80 % new / 20 % duplicates, FULL',
    synchronous: 'FULL',
    handler: 'noop',
    traffic: 'mix',
  },
  5: { n: 5, title: 'handler with 2 inserts, FULL', synchronous: 'FULL', handler: 'writes', traffic: 'new' },
  6: {
    n: 6,
    title: `Adyen, ${ADYEN_ITEMS_PER_REQUEST} items per request, FULL`,
    synchronous: 'FULL',
    handler: 'noop',
    traffic: 'adyen',
  },
  7: {
    n: 7,
    title: 'as (1) on a pre-filled database',
    synchronous: 'FULL',
    handler: 'noop',
    traffic: 'new',
    scale: true,
  },
}

export interface RunResult {
  id: string
  title: string
  load: LoadResult
  warmupRps: number
  /** Events per request (Adyen batches carry several). */
  eventsPerRequest: number
  peakRssBytes: number
  /** VmRSS right after start-up, before any load (services only). */
  startRssBytes?: number
  exitCode: number | null
  notes: string[]
  admin?: AdminLatency[]
  /** (7): deliveries during the admin's worst search, read from a cold disk (see cold-search.ts). */
  coldSearch?: ColdSearch
  /** CPU per answered request during the measured run: the server's main thread and process, the bench. */
  cpu?: CpuPerRequest
  /** The measured run on the monotonic clock (µs), to cut a CPU profile to it. */
  window?: { startUs: number; endUs: number }
  /** From the service's /metrics after the run. */
  metrics?: ServiceMetrics
  metricsTimedOutAfterMs?: number
  /** The server's process id (names its .cpuprofile files). */
  pid?: number
  /** Seconds from spawn until /healthz answered. */
  readySeconds?: number
  /** Seconds the service kept a core busy after it answered /healthz, before any load. */
  startupBusySeconds?: number
  /** Wall seconds of the whole run, start-up to stop. */
  wallSeconds?: number
  /** PostgreSQL runs: the schema and the check of acknowledged events against hookinbox_events. */
  postgres?: PgCheck
  /** The machine's 1-minute load average when the run ended (other work on the machine skews a run). */
  loadAverage1m?: number
}

export function serviceEnv(dbPath: string, handlersDir: string, synchronous: 'FULL' | 'NORMAL') {
  return {
    DATABASE_URL: dbPath,
    HANDLERS_DIR: handlersDir,
    SQLITE_SYNCHRONOUS: synchronous,
    STRIPE_WEBHOOK_SECRET: BENCH_STRIPE_SECRET,
    STRIPE_TOLERANCE_SECONDS: String(BENCH_TOLERANCE_SECONDS),
    ADYEN_HMAC_KEY: BENCH_ADYEN_KEY,
    ADMIN_TOKEN: BENCH_ADMIN_TOKEN,
    LOG_LEVEL: 'warn',
  }
}

export async function startService(
  name: string,
  dir: string,
  dbPath: string,
  spec: Pick<ScenarioSpec, 'handler' | 'synchronous'>,
  extra: { nodeFlags?: string[]; env?: Record<string, string> } = {},
): Promise<Child> {
  const handlersDir = prepareHandlers(dir, dbPath, spec.handler)
  return spawnChild({
    name,
    args: serviceArgs(extra.nodeFlags),
    cwd: dir,
    env: { ...serviceEnv(dbPath, handlersDir, spec.synchronous), ...extra.env },
  })
}

/** Sends `count` new events once each (outside any measurement) and returns them for re-sending. */
async function preload(child: Child, count: number, connections: number) {
  const events = stripeRequests(count, 'd')
  const statuses = await sendAll(child.url, events, connections)
  const ok = statuses['200'] ?? 0
  if (ok !== count) throw new Error(`pre-loading ${count} events: ${JSON.stringify(statuses)}`)
  return events
}

export async function runScenario(
  spec: ScenarioSpec,
  options: BenchOptions,
  ceilingRps: number,
  scaleDb: ScaleDb | undefined,
  nodeFlags: string[] = [],
): Promise<RunResult> {
  const scratch = scratchDir(`s${spec.n}`)
  const dbPath = spec.scale ? (scaleDb as ScaleDb).path : join(scratch.path, 'hookinbox.db')
  const child = await startService(`service (${spec.n})`, scratch.path, dbPath, spec, {
    nodeFlags,
    ...(spec.scale && scaleDb ? { env: scaleServiceEnv(scaleDb) } : {}),
  })
  const notes: string[] = []
  let admin: AdminLatency[] | undefined
  let coldSearch: ColdSearch | undefined
  let eventsPerRequest = 1
  try {
    // Start-up work still running after /healthz answered is waited out, timed, and not measured.
    const startupBusySeconds = await waitUntilIdle(child.pid)
    if (startupBusySeconds >= 1)
      notes.push(`busy for ${startupBusySeconds.toFixed(0)} s after start-up, waited out`)
    // The service listens before its first retention pass; a pass that holds the event loop delays this.
    if (child.readySeconds > 5)
      notes.push(`/healthz first answered ${child.readySeconds.toFixed(1)} s after spawn`)
    let measured: Awaited<ReturnType<typeof measureFresh>>
    if (spec.traffic === 'new') {
      measured = await measureFresh(child, (count) => stripeRequests(count, 'n'), ceilingRps, options)
    } else if (spec.traffic === 'adyen') {
      eventsPerRequest = ADYEN_ITEMS_PER_REQUEST
      measured = await measureFresh(child, adyenRequests, ceilingRps, options)
    } else {
      const loaded = await preload(child, options.duplicatePool, options.connections)
      notes.push(`${loaded.length} events pre-loaded before the clock`)
      if (spec.traffic === 'duplicates') {
        measured = await measureCycle(child, loaded, options)
      } else {
        measured = await measureFresh(child, (count) => stripeRequests(count, 'n'), ceilingRps, options, {
          every: 5,
          duplicate: cycle(loaded),
        })
      }
    }
    if (spec.scale) {
      admin = await measureAdminList(child.url)
      coldSearch = await measureColdSearch(child.url, (scaleDb as ScaleDb).generatedAt)
    }
    const scraped = await scrapeServiceMetrics(child.url)
    const metrics = scraped && 'commits' in scraped ? scraped : undefined
    const peakRssBytes = child.rss.peak()
    let exitCode: number | null
    if (scraped && 'timedOutAfterMs' in scraped) {
      // Still counting (the event loop is blocked): a graceful stop would wait for it. Everything is
      // measured and the file is reset below, so kill it; SQLite recovers the WAL on the next open.
      notes.push(`GET /metrics did not answer within ${scraped.timedOutAfterMs / 1000} s; killed`)
      await child.kill()
      exitCode = 0
    } else {
      exitCode = await child.stop()
    }
    if (exitCode !== 0) notes.push(`service exited with ${exitCode}: ${child.output().slice(-500)}`)
    return {
      id: String(spec.n),
      title: spec.title,
      ...measured,
      eventsPerRequest,
      peakRssBytes,
      startRssBytes: child.rss.startRss,
      exitCode,
      notes,
      startupBusySeconds,
      readySeconds: child.readySeconds,
      pid: child.pid,
      ...(metrics ? { metrics } : {}),
      ...(scraped && 'timedOutAfterMs' in scraped ? { metricsTimedOutAfterMs: scraped.timedOutAfterMs } : {}),
      ...(admin ? { admin } : {}),
      ...(coldSearch ? { coldSearch } : {}),
    }
  } finally {
    await child.stop()
    if (spec.scale && scaleDb) resetScaleDb(scaleDb.path, scaleDb)
    scratch.remove()
  }
}
