/**
 * The quick variant of test/chaos/crash-safety.test.ts, part of `npm test`: the real process, 1,000 distinct
 * signed Stripe events from 32 concurrent clients, 20 % resent by a second client, one SIGKILL at a seeded
 * moment, a restart on the same SQLite file, every delivery retried until it gets a 2xx. The database file is
 * read directly after the kill and at the end. `npm run test:chaos` runs the long version (4,000 events,
 * 4 kills); CHAOS_SEED reproduces a run of either.
 */
import { describe, expect, it } from 'vitest'
import { chaosSeed, runCrashScenario, summaryLine } from '../chaos/crash-harness.ts'

describe('crash safety under SIGKILL (quick)', () => {
  it('one kill mid-stream: acknowledged events survive; every event has exactly one effect', async () => {
    const seed = chaosSeed()
    const report = await runCrashScenario({
      label: 'crash-quick',
      seed,
      events: 1000,
      clients: 32,
      duplicateShare: 0.2,
      duplicateClients: 8,
      kills: 1,
      deadlineMs: 80_000,
    })
    console.log(summaryLine(report))
    if (report.violations.length > 0) console.log(`kept ${report.dir}\n${report.violations.join('\n')}`)
    expect(report.violations).toEqual([])
    expect(report.kills).toHaveLength(1)
    expect(report.kills[0]?.ackedBeforeKill).toBeGreaterThan(0)
    expect(report.effects).toBe(1000)
    expect(report.finalResendDuplicates).toBe(1000)
  }, 90_000)
})
