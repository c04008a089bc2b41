/**
 * Command-line flags of `npm run bench`. Defaults are sized so a full run (everything cached) stays under
 * three minutes on the 2-core machine: 10 load runs of 1 s warm-up + 8 s measured, plus start-ups.
 */
import { parseArgs } from 'node:util'

export const SCENARIO_NUMBERS = [1, 2, 3, 4, 5, 6, 7] as const
export type ScenarioNumber = (typeof SCENARIO_NUMBERS)[number]
/** The PostgreSQL runs: scenario (1)'s load on one service instance, and on three sharing one schema. */
export const PG_RUN_IDS = ['pg1', 'pg3'] as const
export type PgRunId = (typeof PG_RUN_IDS)[number]

export interface BenchOptions {
  durationSeconds: number
  warmupSeconds: number
  connections: number
  scenarios: ScenarioNumber[]
  /** PostgreSQL runs (skipped with a message when PostgreSQL is unreachable). */
  postgres: PgRunId[]
  /** The seed-pattern server under load (scenario 1 against it). */
  seed: boolean
  /** 1,000 concurrent deliveries of one event: handler runs, service vs seed pattern. */
  race: boolean
  scaleRows: number
  /** Events sent once before the duplicate scenarios, then re-sent. */
  duplicatePool: number
  profile: boolean
}

const USAGE = `usage: npm run bench -- [--duration S] [--warmup S] [--connections N] [--only 1,3,pg1,pg3,seed,race]
                          [--scale-rows N] [--duplicate-pool N] [--profile]`

function positiveInt(name: string, raw: string | undefined, fallback: number, min = 1): number {
  if (raw === undefined) return fallback
  const cleaned = raw.replace(/_/g, '')
  if (!/^\d+$/.test(cleaned) || Number(cleaned) < min) {
    throw new Error(`--${name} must be a whole number >= ${min}\n${USAGE}`)
  }
  return Number(cleaned)
}

export function parseBenchOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      only: { type: 'string' },
      'scale-rows': { type: 'string' },
      'duplicate-pool': { type: 'string' },
      profile: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  })
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    process.exit(0)
  }

  let scenarios: ScenarioNumber[] = [...SCENARIO_NUMBERS]
  let postgres: PgRunId[] = [...PG_RUN_IDS]
  let seed = true
  let race = true
  if (values.only !== undefined) {
    const tokens = values.only
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter(Boolean)
    const unknown = tokens.filter(
      (t) => t !== 'seed' && t !== 'race' && t !== 'pg1' && t !== 'pg3' && !/^[1-7]$/.test(t),
    )
    if (unknown.length > 0) throw new Error(`--only: unknown entries ${unknown.join(', ')}\n${USAGE}`)
    scenarios = SCENARIO_NUMBERS.filter((n) => tokens.includes(String(n)))
    postgres = PG_RUN_IDS.filter((id) => tokens.includes(id))
    seed = tokens.includes('seed')
    race = tokens.includes('race')
  }

  return {
    durationSeconds: positiveInt('duration', values.duration, 8),
    warmupSeconds: positiveInt('warmup', values.warmup, 1, 0),
    connections: positiveInt('connections', values.connections, 50),
    scenarios,
    postgres,
    seed,
    race,
    scaleRows: positiveInt('scale-rows', values['scale-rows'], 10_000_000),
    duplicatePool: positiveInt('duplicate-pool', values['duplicate-pool'], 5_000),
    profile: values.profile ?? false,
  }
}
