/**
 * Warm-up plus measured run against one server, with the request pool sized before the clock starts.
 *
 * A pool of distinct events must be large enough for the whole measured run, yet building (signing) far
 * more than needed wastes time and memory. Three times the rate the warm-up reached is a generous estimate;
 * it is capped by the verification-only reference, which no verifying receiver can beat (plus 15 % for
 * noise). Should a pool still run dry, the run stops early and the result says so.
 */
import { type CpuPerRequest, cpuPerRequest, sampleCpu } from './cpu-time.ts'
import { type LoadResult, runLoad } from './load.ts'
import type { BenchOptions } from './options.ts'
import type { PreparedRequest } from './stripe-requests.ts'

export interface Measured {
  load: LoadResult
  warmupRps: number
  /** CPU per answered request during the measured run (absent where /proc cannot be read). */
  cpu?: CpuPerRequest
  /** The measured run on the monotonic clock in µs (the clock V8 stamps .cpuprofile samples with). */
  window: { startUs: number; endUs: number }
}

const monotonicUs = () => Number(process.hrtime.bigint() / 1000n)

/** The server under load: where to send requests, and its process id to read its CPU time. */
export interface Target {
  url: string
  pid?: number
}

async function timed(
  target: Target,
  run: () => Promise<LoadResult>,
): Promise<{ load: LoadResult; window: Measured['window']; cpu?: CpuPerRequest }> {
  const server = target.pid === undefined ? undefined : sampleCpu(target.pid)
  const bench = process.cpuUsage()
  const startUs = monotonicUs()
  const load = await run()
  const window = { startUs, endUs: monotonicUs() }
  const serverAfter = target.pid === undefined ? undefined : sampleCpu(target.pid)
  const cpu =
    server && serverAfter
      ? cpuPerRequest({ server, bench }, { server: serverAfter, bench: process.cpuUsage() }, load.responses)
      : undefined
  return { load, window, ...(cpu ? { cpu } : {}) }
}

type Options = Pick<BenchOptions, 'connections' | 'durationSeconds' | 'warmupSeconds'>

const log = (line: string) => process.stdout.write(`${line}\n`)

/** Every request is new: `build(count)` makes `count` fresh signed requests. */
export async function measureFresh(
  target: Target,
  build: (count: number) => PreparedRequest[],
  ceilingRps: number,
  options: Options,
  mix?: { every: number; duplicate: () => PreparedRequest },
): Promise<Measured> {
  const { url } = target
  const spare = options.connections * 4
  const freshShare = mix ? 1 - 1 / mix.every : 1
  let warmupRps = 0
  if (options.warmupSeconds > 0) {
    const warm = build(Math.ceil(ceilingRps * options.warmupSeconds * freshShare) + spare)
    warmupRps = (
      await runLoad({ url, ...loadShape(options, options.warmupSeconds), next: source(warm, mix) })
    ).rps
  }
  // A 1 s warm-up still runs partly unoptimised code: the measured rate can be well above it.
  const rate = Math.min(ceilingRps, warmupRps > 0 ? Math.max(warmupRps * 3, 2000) : ceilingRps)
  const pool = build(Math.ceil(rate * options.durationSeconds * freshShare) + spare)
  const measured = await timed(target, () =>
    runLoad({ url, ...loadShape(options, options.durationSeconds), next: source(pool, mix) }),
  )
  if (measured.load.stoppedEarly) log(`  note: the pre-built pool of ${pool.length} requests ran out early`)
  return { ...measured, warmupRps }
}

/** The same fixed set of requests over and over (references, duplicates). */
export async function measureCycle(
  target: Target,
  requests: readonly PreparedRequest[],
  options: Options,
): Promise<Measured> {
  const { url } = target
  let i = 0
  const next = () => requests[i++ % requests.length] as PreparedRequest
  let warmupRps = 0
  if (options.warmupSeconds > 0) {
    warmupRps = (await runLoad({ url, ...loadShape(options, options.warmupSeconds), next })).rps
  }
  const measured = await timed(target, () =>
    runLoad({ url, ...loadShape(options, options.durationSeconds), next }),
  )
  return { ...measured, warmupRps }
}

function loadShape(options: Options, seconds: number) {
  return { connections: options.connections, seconds }
}

function source(
  fresh: readonly PreparedRequest[],
  mix?: { every: number; duplicate: () => PreparedRequest },
): () => PreparedRequest | undefined {
  let sent = 0
  let f = 0
  return () => {
    sent++
    if (mix && sent % mix.every === 0) return mix.duplicate()
    return fresh[f++]
  }
}
