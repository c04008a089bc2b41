/**
 * Warm-up plus measured run against one server, with the request pool sized before the clock starts.
 *
 * A pool of distinct events must be large enough for the whole measured run, yet building (signing) far
 * more than needed wastes time and memory. Three times the rate the warm-up reached is a generous estimate;
 * it is capped by the verification-only reference, which no verifying receiver can beat (plus 15 % for
 * noise). Should a pool still run dry, the run stops early and the result says so.
 */
import { type LoadResult, runLoad } from './load.ts'
import type { BenchOptions } from './options.ts'
import type { PreparedRequest } from './stripe-requests.ts'

export interface Measured {
  load: LoadResult
  warmupRps: number
  /** The measured run on the monotonic clock in µs (the clock V8 stamps .cpuprofile samples with). */
  window: { startUs: number; endUs: number }
}

const monotonicUs = () => Number(process.hrtime.bigint() / 1000n)

async function timed(
  run: () => Promise<LoadResult>,
): Promise<{ load: LoadResult; window: Measured['window'] }> {
  const startUs = monotonicUs()
  const load = await run()
  return { load, window: { startUs, endUs: monotonicUs() } }
}

type Options = Pick<BenchOptions, 'connections' | 'durationSeconds' | 'warmupSeconds'>

const log = (line: string) => process.stdout.write(`${line}\n`)

/** Every request is new: `build(count)` makes `count` fresh signed requests. */
export async function measureFresh(
  url: string,
  build: (count: number) => PreparedRequest[],
  ceilingRps: number,
  options: Options,
  mix?: { every: number; duplicate: () => PreparedRequest },
): Promise<Measured> {
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
  const { load, window } = await timed(() =>
    runLoad({ url, ...loadShape(options, options.durationSeconds), next: source(pool, mix) }),
  )
  if (load.stoppedEarly) log(`  note: the pre-built pool of ${pool.length} requests ran out early`)
  return { load, warmupRps, window }
}

/** The same fixed set of requests over and over (references, duplicates). */
export async function measureCycle(
  url: string,
  requests: readonly PreparedRequest[],
  options: Options,
): Promise<Measured> {
  let i = 0
  const next = () => requests[i++ % requests.length] as PreparedRequest
  let warmupRps = 0
  if (options.warmupSeconds > 0) {
    warmupRps = (await runLoad({ url, ...loadShape(options, options.warmupSeconds), next })).rps
  }
  const { load, window } = await timed(() =>
    runLoad({ url, ...loadShape(options, options.durationSeconds), next }),
  )
  return { load, warmupRps, window }
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
