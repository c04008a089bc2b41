/**
 * `hookinbox_events` is read from the database at most every 15 s. That interval is time elapsed, not the
 * wall clock: a wall clock set back (an NTP step, a VM resumed) must not freeze the gauge for the size of the
 * step. The clocks are pinned with fake timers (only Date and performance; nothing is scheduled here).
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createMetrics } from '../../src/metrics.ts'

afterEach(() => {
  vi.useRealTimers()
})

describe('the stored-events gauge', () => {
  it('is read again 15 s after the last read, even when the wall clock was set back meanwhile', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'performance'] })
    let stored = 1
    const metrics = createMetrics({ eventCounts: async () => ({ stripe: { processed: stored } }) })
    const gauge = async () =>
      (await metrics.registry.getSingleMetric('hookinbox_events')?.get())?.values.find(
        (v) => v.labels.provider === 'stripe',
      )?.value
    expect(await gauge()).toBe(1)
    stored = 2
    // Within 15 s: the cached count.
    vi.advanceTimersByTime(5_000)
    expect(await gauge()).toBe(1)
    // The wall clock goes back an hour, then 16 s pass.
    vi.setSystemTime(Date.now() - 3_600_000)
    vi.advanceTimersByTime(16_000)
    expect(await gauge()).toBe(2)
  })
})
