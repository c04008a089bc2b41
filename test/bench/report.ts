/**
 * The printed summary (table, targets marked PASS/MISS, never asserted) and the JSON written under
 * test/bench/results/ so runs can be compared.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { join } from 'node:path'
import type { AdminLatency } from './admin-latency.ts'
import type { ColdSearch } from './cold-search.ts'
import type { RaceResult } from './comparisons.ts'
import type { BenchOptions } from './options.ts'
import { formatPgCheck } from './postgres-runs.ts'
import { RESULTS_DIR, START_NODE_FLAGS } from './processes.ts'
import type { ScaleDb } from './scale-db.ts'
import type { RunResult } from './scenarios.ts'

export function machine() {
  const list = cpus()
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    node: process.version,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverage1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  }
}

export interface BenchReport {
  startedAt: string
  finishedAt: string
  machine: ReturnType<typeof machine>
  loadAverageAtEnd1m: number
  options: BenchOptions
  conditions: string[]
  runs: RunResult[]
  scaleDb?: Omit<ScaleDb, 'path'> & { file: string }
  race?: RaceResult
  /** Why the PostgreSQL runs did not run (PostgreSQL unreachable). */
  postgresSkipped?: string
  targets: Target[]
}

export interface Target {
  name: string
  goal: string
  actual: string
  pass: boolean | undefined
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`
const num = (n: number) => Math.round(n).toLocaleString('en')
const pct = (ratio: number | undefined) => (ratio === undefined ? '—' : `${(ratio * 100).toFixed(0)} %`)

/** The verification-only reference's runs (before the scenarios and, in a full run, after them). */
const verifyRuns = (runs: RunResult[]) =>
  runs.filter((r) => r.id === 'ref-verify' || r.id === 'ref-verify-again')

/** The mean rate of the verification-only reference over its runs: what the ratios are taken against. */
export function verifyRps(runs: RunResult[]): number | undefined {
  const refs = verifyRuns(runs)
  return refs.length === 0 ? undefined : refs.reduce((sum, r) => sum + r.load.rps, 0) / refs.length
}

/** "37 %", or with two reference runs "37 % (35–40 % against each run)". */
function ratioToVerify(rps: number, runs: RunResult[]): { ratio: number; text: string } {
  const ratio = rps / (verifyRps(runs) as number)
  const each = verifyRuns(runs).map((r) => rps / r.load.rps)
  if (each.length < 2) return { ratio, text: pct(ratio) }
  const low = Math.min(...each)
  const high = Math.max(...each)
  return { ratio, text: `${pct(ratio)} (${(low * 100).toFixed(0)}–${pct(high)} against each run)` }
}

export function computeTargets(runs: RunResult[]): Target[] {
  const get = (id: string) => runs.find((r) => r.id === id)
  const verify = verifyRps(runs)
  const seed = get('seed')
  const s1 = get('1')
  const s3 = get('3')
  const s7 = get('7')
  const targets: Target[] = []
  const add = (name: string, goal: string, actual: string, pass: boolean | undefined) =>
    targets.push({ name, goal, actual, pass })
  if (s1 && verify) {
    const { ratio, text } = ratioToVerify(s1.load.rps, runs)
    add('(1) throughput', '>= 80 % of verification-only', text, ratio >= 0.8)
  }
  const parse = get('ref-parse')
  if (parse && verify && (s1 || s3)) {
    // Not a goal: what verification + JSON.parse alone reaches, the most (1) and (3) could reach here.
    const { text } = ratioToVerify(parse.load.rps, runs)
    add('ceiling: verification + JSON.parse', '(no storage, no goal)', text, undefined)
  }
  if (s1) add('(1) p99 latency', '< 15 ms', `${s1.load.p99Ms.toFixed(1)} ms`, s1.load.p99Ms < 15)
  if (s3 && verify) {
    const { ratio, text } = ratioToVerify(s3.load.rps, runs)
    add('(3) duplicates throughput', '>= 90 % of verification-only', text, ratio >= 0.9)
  }
  if (seed) {
    if (s1)
      add(
        '(1) faster than seed pattern',
        `> ${num(seed.load.rps)} req/s`,
        `${num(s1.load.rps)} req/s`,
        s1.load.rps > seed.load.rps,
      )
    if (s3)
      add(
        '(3) faster than seed pattern',
        `> ${num(seed.load.rps)} req/s`,
        `${num(s3.load.rps)} req/s`,
        s3.load.rps > seed.load.rps,
      )
  }
  if (s7 && s1) {
    // Time per request is 1 / throughput, so "<= 1.5x the time of (1)" means rps(7) >= rps(1) / 1.5.
    const slowdown = s1.load.rps / s7.load.rps
    add('(7) time per request vs (1)', '<= 1.5x', `${slowdown.toFixed(2)}x`, slowdown <= 1.5)
  }
  // Every listed filter's first page counts, not only the unfiltered one: the goal is an operator's page.
  const slowest = s7?.admin?.reduce((a, b) => (b.p99Ms > a.p99Ms ? b : a))
  if (slowest)
    add(
      '(7) admin first page p99',
      '< 50 ms',
      `${slowest.p99Ms.toFixed(1)} ms (slowest: ${slowest.name})`,
      slowest.p99Ms < 50,
    )
  const service = runs.filter((r) => /^\d$/.test(r.id))
  if (service.length > 0) {
    const worst = service.reduce((a, b) => (b.peakRssBytes > a.peakRssBytes ? b : a))
    const start = worst.startRssBytes ? `, ${mb(worst.startRssBytes)} right after start-up` : ''
    add(
      'peak RSS of the service',
      '< 200 MB',
      `${mb(worst.peakRssBytes)} (worst: (${worst.id})${start})`,
      worst.peakRssBytes < 200 * 2 ** 20,
    )
  }
  return targets
}

export function formatTable(runs: RunResult[]): string {
  const bare = runs.find((r) => r.id === 'ref-bare')?.load.rps
  const verify = verifyRps(runs)
  const header = [
    'run',
    'scenario',
    'req/s',
    'events/s',
    'p50 ms',
    'p99 ms',
    'non-2xx',
    'peak RSS',
    'vs bare',
    'vs verify',
    'ev/commit',
    'cpu µs/req',
    'load',
  ]
  const rows = runs.map((r) => [
    r.id.startsWith('ref-') ? r.id : r.id === 'seed' ? 'seed' : `(${r.id})`,
    r.title,
    num(r.load.rps),
    num(r.load.rps * r.eventsPerRequest),
    r.load.p50Ms.toFixed(2),
    r.load.p99Ms.toFixed(2),
    String(r.load.non2xx + r.load.errors),
    mb(r.peakRssBytes),
    pct(bare ? r.load.rps / bare : undefined),
    pct(verify ? r.load.rps / verify : undefined),
    r.metrics ? r.metrics.meanEventsPerCommit.toFixed(1) : '—',
    r.cpu ? r.cpu.serverMainUs.toFixed(0) : '—',
    r.loadAverage1m === undefined ? '—' : r.loadAverage1m.toFixed(1),
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)))
  const line = (cells: string[]) =>
    cells.map((c, i) => (i <= 1 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ')
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

function formatAdmin(admin: AdminLatency[]): string {
  return admin
    .map(
      (a) =>
        `  ${a.name.padEnd(30)} first ${a.firstMs.toFixed(1).padStart(6)} ms   p50 ${a.p50Ms.toFixed(1).padStart(6)} ms   p99 ${a.p99Ms.toFixed(1).padStart(6)} ms   (${a.requests} sequential, ${a.rows} rows, ${JSON.stringify(a.statuses)})`,
    )
    .join('\n')
}

function formatColdSearch(c: ColdSearch): string {
  const search =
    c.searchMs === undefined
      ? 'not done when stopped'
      : `${(c.searchMs / 1000).toFixed(1)} s (${c.searchStatus})`
  return (
    `  worst search (until 99 days back, ${c.cold ? 'page cache dropped first' : 'warm: the page cache could not be dropped'}) ${search};` +
    ` meanwhile ${num(c.deliveries)} deliveries one at a time: p50 ${c.p50Ms.toFixed(1)} ms, p99 ${c.p99Ms.toFixed(1)} ms,` +
    ` max ${c.maxMs.toFixed(1)} ms ${JSON.stringify(c.deliveryStatuses)}`
  )
}

export function formatReport(report: BenchReport, jsonPath: string): string {
  const out: string[] = ['', '=== hookinbox bench summary ===', formatTable(report.runs), '']
  for (const r of report.runs) {
    const odd = r.load.non2xx > 0 || r.load.errors > 0 || r.load.stoppedEarly || r.notes.length > 0
    if (odd) {
      out.push(
        `(${r.id}) status codes ${JSON.stringify(r.load.statusCodes)}, socket errors ${r.load.errors}, timeouts ${r.load.timeouts}` +
          `${r.load.stoppedEarly ? ', pool ran out early' : ''}${r.notes.length ? `; ${r.notes.join('; ')}` : ''}`,
      )
    }
  }
  const s7 = report.runs.find((r) => r.id === '7')
  if (s7?.admin && report.scaleDb) {
    out.push(
      `admin list on the scale database (${num(report.scaleDb.rows)} events over 100 days, ${num(report.scaleDb.pruned)} of them with payloads already pruned by the ${report.scaleDb.retentionDays}-day retention; ${mb(report.scaleDb.bytes)}), service idle:`,
      formatAdmin(s7.admin),
      ...(s7.coldSearch ? [formatColdSearch(s7.coldSearch)] : []),
      ...(s7.metrics
        ? [`  GET /metrics (counts events by provider and status) ${s7.metrics.scrapeMs.toFixed(0)} ms`]
        : []),
      ...(s7.metricsTimedOutAfterMs
        ? [
            `  GET /metrics (counts events by provider and status) no answer within ${s7.metricsTimedOutAfterMs} ms`,
          ]
        : []),
      '',
    )
  }
  const pgRuns = report.runs.filter((r) => r.postgres)
  if (pgRuns.length > 0) {
    out.push('PostgreSQL (fresh schema per run, dropped after; DATABASE_POOL_SIZE default 10 per instance):')
    for (const r of pgRuns) if (r.postgres) out.push(formatPgCheck(r.id, r.postgres))
    if (pgRuns.some((r) => (r.postgres?.instances ?? 1) > 1))
      out.push(
        '  (pg3): req/s is the sum of the concurrent loads; p50/p99 are taken over all responses of all instances',
      )
    out.push('')
  }
  if (report.postgresSkipped) out.push(report.postgresSkipped, '')
  if (report.race) {
    const { race } = report
    out.push(
      `race: ${race.deliveries} concurrent deliveries of ONE event (handler awaits 5 ms, an outbound call, then inserts a row):`,
      `  service       handler ran ${race.service.handlerRuns}x, event rows ${race.service.eventRows}, answers ${JSON.stringify(race.service.statuses)}`,
      `  seed pattern  handler ran ${race.seed.handlerRuns}x, event rows ${race.seed.eventRows}, answers ${JSON.stringify(race.seed.statuses)}`,
      '',
    )
  }
  out.push('targets (reported, not asserted):')
  for (const t of report.targets) {
    const mark = t.pass === undefined ? 'n/a ' : t.pass ? 'PASS' : 'MISS'
    out.push(`  ${mark}  ${t.name.padEnd(32)} goal ${t.goal.padEnd(30)} actual ${t.actual}`)
  }
  out.push('', `JSON: ${jsonPath}`)
  return out.join('\n')
}

export function writeReport(report: BenchReport): string {
  mkdirSync(RESULTS_DIR, { recursive: true })
  const path = join(RESULTS_DIR, `bench-${report.startedAt.replace(/[:.]/g, '-')}.json`)
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`)
  return path
}

export function conditions(options: BenchOptions): string[] {
  return [
    `service: node ${START_NODE_FLAGS.join(' ')} --import tsx src/server.ts (npm start), a fresh process and SQLite file per scenario, LOG_LEVEL=warn (an info line per delivery would dominate)`,
    `Stripe requests signed before the clock with one timestamp; servers run with STRIPE_TOLERANCE_SECONDS=86400`,
    `load: autocannon in the bench process, ${options.connections} connections, ${options.warmupSeconds} s warm-up + ${options.durationSeconds} s measured per run, loopback; the load generator shares the CPU with the server`,
    'latency: per response, all statuses, fractional ms; peak RSS: VmHWM of the server process (and VmRSS sampled every 100 ms)',
    ...(options.postgres.length > 0
      ? [
          `PostgreSQL (${options.postgres.join(', ')}): a fresh schema per run, DATABASE_POOL_SIZE default (10) per instance; pg3 splits the ${options.connections} connections over 3 instances, req/s summed, latency over all responses, peak RSS the max over instances`,
        ]
      : []),
  ]
}
