/**
 * `--profile`: one scenario ((1) unless `--only` names another) against the service started with
 * `node --cpu-prof`, then the profile's self time during the measured run summarised by bucket. The profiler
 * slows the service down, so this run's throughput is not comparable with the plain bench; its shares are
 * what matter. V8 writes one profile per thread when the process exits (the service exits 0 after SIGTERM),
 * into test/bench/results/profiles/; the main thread's is the one with hookinbox's code in it.
 */
import { mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import type { BenchOptions } from './options.ts'
import { RESULTS_DIR } from './processes.ts'
import { formatProfile, isMainThreadProfile, summariseProfile } from './profile.ts'
import { ensureScaleDb } from './scale-db.ts'
import { runScenario, SCENARIOS } from './scenarios.ts'

const log = (line = '') => process.stdout.write(`${line}\n`)

/** No reference runs here: pools are capped by a generous fixed ceiling instead. */
const CEILING_RPS = 40_000

export async function runProfile(options: BenchOptions) {
  const dir = join(RESULTS_DIR, 'profiles')
  mkdirSync(dir, { recursive: true })
  const before = new Set(readdirSync(dir))
  const n = options.scenarios.length === 1 ? (options.scenarios[0] ?? 1) : 1
  const spec = SCENARIOS[n]
  const scaleDb = spec.scale ? await ensureScaleDb(options.scaleRows, log) : undefined
  const result = await runScenario(spec, options, CEILING_RPS, scaleDb, [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
  ])
  const { load } = result
  log(
    `scenario (${n}) ${spec.title}, under the profiler: ${Math.round(load.rps).toLocaleString('en')} req/s, p50 ${load.p50Ms.toFixed(2)} ms, p99 ${load.p99Ms.toFixed(2)} ms, non-2xx ${load.non2xx}`,
  )
  const file = readdirSync(dir)
    // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: this run's service only.
    .filter((f) => f.endsWith('.cpuprofile') && !before.has(f) && f.includes(`.${result.pid}.`))
    .map((f) => join(dir, f))
    .find(isMainThreadProfile)
  if (!file) throw new Error(`no .cpuprofile of the main thread was written to ${dir}`)
  log()
  log(formatProfile(summariseProfile(file, result.window), n))
}
