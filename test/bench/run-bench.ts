/**
 * `npm run bench`: the service under load next to its references, the seed pattern and the race check;
 * `npm run bench -- --profile` (or `npm run bench:profile`): scenario (1) under `node --cpu-prof`, summarised.
 * See test/bench/README.md.
 */

import { rmSync } from 'node:fs'
import { loadavg } from 'node:os'
import { basename, join } from 'node:path'
import { runRace, runReference, runSeedPattern } from './comparisons.ts'
import { parseBenchOptions, SCENARIO_NUMBERS, type ScenarioNumber } from './options.ts'
import { pgBaseUrl, postgresUnreachable, redactedUrl, runPostgres } from './postgres-runs.ts'
import { CACHE_DIR } from './processes.ts'
import { runProfile } from './profile-run.ts'
import { type BenchReport, computeTargets, conditions, formatReport, machine, writeReport } from './report.ts'
import { ensureScaleDb, type ScaleDb } from './scale-db.ts'
import { type RunResult, runScenario, SCENARIOS } from './scenarios.ts'

const log = (line = '') => process.stdout.write(`${line}\n`)

async function main() {
  const options = parseBenchOptions(process.argv.slice(2))
  const startedAt = new Date()
  const m = machine()
  log(
    `machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, node ${m.node}, load average ${m.loadAverage1m}`,
  )
  if (m.loadAverage1m > 0.5)
    log('warning: the machine is busy; numbers will be lower and noisier than on an idle machine')
  const conds = conditions(options)
  for (const c of conds) log(`- ${c}`)
  log()

  if (options.profile) {
    await runProfile(options)
    return
  }

  /** CPU per request: the server's event loop is what limits it; the load generator shares the cores. */
  const cpuLine = (r: RunResult) =>
    r.cpu
      ? `\n             cpu per request: server main thread ${r.cpu.serverMainUs} µs, server process ${r.cpu.serverProcessUs} µs, load generator ${r.cpu.loadGeneratorUs} µs`
      : ''
  const runs: RunResult[] = []
  let mark = performance.now()
  const done = (r: RunResult) => {
    // Wall time of the whole run: start-up, pool building, pre-loading, warm-up, measurement, stop.
    r.wallSeconds = Math.round((performance.now() - mark) / 100) / 10
    mark = performance.now()
    r.loadAverage1m = Math.round((loadavg()[0] ?? 0) * 100) / 100
    runs.push(r)
    const l = r.load
    log(
      `  ${r.id.padEnd(10)} ${Math.round(l.rps).toLocaleString('en').padStart(7)} req/s  p50 ${l.p50Ms.toFixed(2)} ms  p99 ${l.p99Ms.toFixed(2)} ms  non-2xx ${l.non2xx}  errors ${l.errors}  peak RSS ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MB  load ${r.loadAverage1m}  (${r.wallSeconds} s)${cpuLine(r)}`,
    )
  }

  // Generated first, so its disk writes are over before anything is measured.
  let scaleDb: ScaleDb | undefined
  if (options.scenarios.includes(7)) {
    log(`scale database (${options.scaleRows.toLocaleString('en')} events):`)
    scaleDb = await ensureScaleDb(options.scaleRows, log)
    log(
      scaleDb.generatedSeconds === undefined
        ? `  reusing ${basename(scaleDb.path)}`
        : `  generated in ${scaleDb.generatedSeconds} s: ${basename(scaleDb.path)}`,
    )
  }

  mark = performance.now()
  log('references:')
  done(await runReference('bare', options))
  const verify = await runReference('verify', options)
  done(verify)
  // No verifying receiver beats the verification-only reference: it bounds every pool of new events.
  const ceilingRps = verify.load.rps * 1.15
  // What reading the event costs on top of verifying it, with no storage at all: the ceiling of (1) and (3).
  if (options.scenarios.length > 0) done(await runReference('parse', options))

  for (const n of SCENARIO_NUMBERS.filter((x): x is ScenarioNumber => options.scenarios.includes(x))) {
    log(`(${n}) ${SCENARIOS[n].title}:`)
    done(await runScenario(SCENARIOS[n], options, ceilingRps, scaleDb))
  }
  // This machine drifts by 10-30 % within minutes: the verification-only reference is measured again after
  // the scenarios, and the ratios to it use the mean of both runs (each run's own ratio is printed too).
  if (options.scenarios.length > 0) {
    log('reference again, after the scenarios:')
    done(await runReference('verify', options, true))
  }
  let postgresSkipped: string | undefined
  if (options.postgres.length > 0) {
    const base = pgBaseUrl()
    const why = await postgresUnreachable(base)
    if (why) {
      postgresSkipped = `PostgreSQL runs ${options.postgres.join(', ')} skipped: ${redactedUrl(base)} unreachable (${why}); set BENCH_DATABASE_URL`
      log(postgresSkipped)
    } else {
      for (const id of options.postgres) {
        log(
          id === 'pg1'
            ? `(pg1) as (1) on PostgreSQL (${redactedUrl(base)}), one instance:`
            : '(pg3) as (1) on PostgreSQL, three instances on one schema, connections split, loads concurrent:',
        )
        done(await runPostgres(id, options, ceilingRps, base))
      }
    }
    mark = performance.now()
  }
  if (options.seed) {
    log('seed pattern, load of scenario (1):')
    done(await runSeedPattern(options, ceilingRps))
  }
  let race: BenchReport['race']
  if (options.race) {
    log('race: 1,000 concurrent deliveries of one event...')
    race = await runRace()
    log(`  ${((performance.now() - mark) / 1000).toFixed(1)} s`)
  }

  const report: BenchReport = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: m,
    loadAverageAtEnd1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    options,
    conditions: conds,
    runs,
    ...(scaleDb ? { scaleDb: { ...scaleDb, file: basename(scaleDb.path) } } : {}),
    ...(race ? { race } : {}),
    ...(postgresSkipped ? { postgresSkipped } : {}),
    targets: computeTargets(runs),
  }
  const path = writeReport(report)
  log(formatReport(report, path))
  log(`total ${((Date.now() - startedAt.getTime()) / 1000).toFixed(0)} s`)
}

main().then(
  () => rmSync(join(CACHE_DIR, 'runs'), { recursive: true, force: true }),
  (err) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`)
    process.exit(1)
  },
)
