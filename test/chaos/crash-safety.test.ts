/**
 * Crash safety of the real process under SIGKILL (`npm run test:chaos`). Several thousand distinct signed
 * Stripe events from 32 concurrent clients, 20 % of them resent by a second client, the process killed with
 * SIGKILL at several seeded moments and restarted on the same SQLite file (synchronous=FULL), every delivery
 * retried until it gets a 2xx. Read from the file itself: every acknowledged event is processed with its
 * effect (checked right after each kill, before the restart), every event has exactly one effect, and effects
 * and records match one to one.
 *
 * Reproduce a run with CHAOS_SEED=<seed from the summary line>; size it with CHAOS_EVENTS, CHAOS_KILLS,
 * CHAOS_CLIENTS; keep its folder (database, service logs) under test/.tmp with CHAOS_KEEP=1.
 */
import { describe, expect, it } from 'vitest'
import { chaosSeed, runCrashScenario, summaryLine } from './crash-harness.ts'

const int = (name: string, fallback: number) => {
  const v = process.env[name]
  return v === undefined || v === '' ? fallback : Number.parseInt(v, 10)
}

describe('crash safety under SIGKILL (chaos)', () => {
  it('acknowledged events survive every kill; every event has exactly one effect', async () => {
    const seed = chaosSeed()
    console.log(`[chaos] CHAOS_SEED=${seed}`)
    const report = await runCrashScenario({
      label: 'chaos',
      seed,
      events: int('CHAOS_EVENTS', 4000),
      clients: int('CHAOS_CLIENTS', 32),
      duplicateShare: 0.2,
      duplicateClients: 8,
      kills: int('CHAOS_KILLS', 4),
      deadlineMs: 240_000,
      keepDir: process.env.CHAOS_KEEP === '1',
    })
    console.log(summaryLine(report))
    if (report.violations.length > 0)
      console.log(`[chaos] kept ${report.dir}\n${report.violations.join('\n')}`)
    expect(report.violations).toEqual([])
    expect(report.kills).toHaveLength(int('CHAOS_KILLS', 4))
    expect(report.effects).toBe(report.events)
    expect(report.finalResendDuplicates).toBe(report.events)
  })
})
