/**
 * What the service is compared with: the two references (bare Hono, verification only), the naive seed
 * pattern under the load of scenario 1, and the race check (1,000 concurrent deliveries of one event).
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { countRows } from './bench-handlers.ts'
import { sendAll } from './load.ts'
import type { BenchOptions } from './options.ts'
import { benchScriptArgs, type Child, scratchDir, spawnChild } from './processes.ts'
import { type RunResult, startService } from './scenarios.ts'
import { BENCH_STRIPE_SECRET, BENCH_TOLERANCE_SECONDS, stripeRequests } from './stripe-requests.ts'
import { measureCycle, measureFresh } from './traffic.ts'

const stripeEnv = {
  STRIPE_WEBHOOK_SECRET: BENCH_STRIPE_SECRET,
  STRIPE_TOLERANCE_SECONDS: String(BENCH_TOLERANCE_SECONDS),
}

async function finish(
  child: Child,
  id: string,
  title: string,
  measured: Awaited<ReturnType<typeof measureCycle>>,
): Promise<RunResult> {
  const peakRssBytes = child.rss.peak()
  const exitCode = await child.stop()
  return { id, title, ...measured, eventsPerRequest: 1, peakRssBytes, exitCode, notes: [] }
}

/**
 * A reference server fed the same signed Stripe requests as scenario 1 (repeated: it stores nothing).
 * `again`: the verification-only reference measured a second time, after the scenarios (see report.ts).
 */
export async function runReference(
  mode: 'bare' | 'verify' | 'parse',
  options: BenchOptions,
  again = false,
): Promise<RunResult> {
  const scratch = scratchDir(`ref-${mode}`)
  const child = await spawnChild({
    name: `reference (${mode})`,
    args: benchScriptArgs('reference-server.ts'),
    cwd: scratch.path,
    env: { REFERENCE_MODE: mode, ...stripeEnv },
  })
  try {
    const measured = await measureCycle(child, stripeRequests(20_000, 'r'), options)
    const title =
      mode === 'bare'
        ? 'reference: bare Hono, answers 200'
        : mode === 'parse'
          ? 'reference: verification + JSON.parse, no storage'
          : again
            ? 'reference: verification only, again after the scenarios'
            : 'reference: Hono + Stripe verification only'
    return await finish(child, again ? `ref-${mode}-again` : `ref-${mode}`, title, measured)
  } finally {
    await child.stop()
    scratch.remove()
  }
}

function startSeed(dir: string, handler: 'noop' | 'effects'): Promise<Child> {
  mkdirSync(dir, { recursive: true })
  return spawnChild({
    name: `seed pattern (${handler})`,
    args: benchScriptArgs('seed-server.ts'),
    cwd: dir,
    env: { SEED_DATABASE: join(dir, 'seed.db'), SEED_HANDLER: handler, ...stripeEnv },
  })
}

/** Scenario (1) against the naive check-then-insert receiver. */
export async function runSeedPattern(options: BenchOptions, ceilingRps: number): Promise<RunResult> {
  const scratch = scratchDir('seed')
  const child = await startSeed(scratch.path, 'noop')
  try {
    const measured = await measureFresh(child, (count) => stripeRequests(count, 's'), ceilingRps, options)
    return await finish(child, 'seed', 'seed pattern: SELECT, await handler, INSERT (FULL)', measured)
  } finally {
    await child.stop()
    scratch.remove()
  }
}

export interface RaceResult {
  deliveries: number
  service: { handlerRuns: number; eventRows: number; statuses: Record<string, number> }
  seed: { handlerRuns: number; eventRows: number; statuses: Record<string, number> }
}

const RACE_DELIVERIES = 1000

/**
 * One event delivered 1,000 times at once to each receiver; both run a handler that waits 5 ms and then
 * inserts a row into a table without a unique constraint, so the row count is the number of handler runs.
 */
export async function runRace(): Promise<RaceResult> {
  const [event] = stripeRequests(1, 'x')
  if (!event) throw new Error('no event')
  const deliveries = Array.from({ length: RACE_DELIVERIES }, () => event)
  const eventId = (JSON.parse(event.body) as { id: string }).id

  const scratch = scratchDir('race')
  try {
    const serviceDir = join(scratch.path, 'service')
    const serviceDb = join(serviceDir, 'hookinbox.db')
    const service = await startService('service (race)', serviceDir, serviceDb, {
      handler: 'effects',
      synchronous: 'FULL',
    })
    const serviceStatuses = await sendAll(service.url, deliveries, RACE_DELIVERIES)
    await service.stop()

    const seedDir = join(scratch.path, 'seed')
    const seed = await startSeed(seedDir, 'effects')
    const seedStatuses = await sendAll(seed.url, deliveries, RACE_DELIVERIES)
    await seed.stop()

    const where = `WHERE event_id = '${eventId}'`
    return {
      deliveries: RACE_DELIVERIES,
      service: {
        handlerRuns: countRows(serviceDb, 'bench_effects', where),
        eventRows: countRows(serviceDb, 'hookinbox_events', where),
        statuses: serviceStatuses,
      },
      seed: {
        handlerRuns: countRows(join(seedDir, 'seed.db'), 'bench_effects', where),
        eventRows: countRows(join(seedDir, 'seed.db'), 'seed_events', where),
        statuses: seedStatuses,
      },
    }
  } finally {
    scratch.remove()
  }
}
