/**
 * Prometheus metrics (prom-client), one registry per service instance so tests can run several.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { ProviderName } from './providers/provider.ts'
import type { Answer } from './webhooks/respond.ts'

export interface Metrics {
  registry: Registry
  rejected(provider: ProviderName, reason: string): void
  /** One verified event's outcome (an Adyen delivery carries several). */
  outcome(outcome: Answer): void
  /** One delivery whose events all reached an outcome, and how long that took. */
  delivered(provider: ProviderName, durationMs: number): void
  batch(size: number): void
}

export interface MetricsSources {
  /** Events by provider and status, read from the database (cached between scrapes, see below). */
  eventCounts?: () => Promise<Record<string, Partial<Record<string, number>>>>
  /** Verified deliveries held now (see src/webhooks/admission.ts). */
  pendingDeliveries?: () => number
}

const EVENT_COUNT_CACHE_MS = 15_000

export function createMetrics(sources: MetricsSources = {}): Metrics {
  const registry = new Registry()
  let cached: { at: number; counts: Record<string, Partial<Record<string, number>>> } | undefined
  new Gauge({
    name: 'hookinbox_events',
    help: 'Stored events by provider and status (refreshed at most every 15 s)',
    labelNames: ['provider', 'status'] as const,
    registers: [registry],
    async collect() {
      if (!sources.eventCounts) return
      // Counting is a scan of the status index; a scrape every few seconds must not repeat it each time.
      // Time elapsed on the monotonic clock: the wall clock set back an hour froze the gauge for that hour.
      if (!cached || performance.now() - cached.at > EVENT_COUNT_CACHE_MS) {
        try {
          cached = { at: performance.now(), counts: await sources.eventCounts() }
        } catch {
          return
        }
      }
      this.reset()
      for (const [provider, byStatus] of Object.entries(cached.counts)) {
        for (const [status, n] of Object.entries(byStatus)) this.set({ provider, status }, n ?? 0)
      }
    },
  })
  new Gauge({
    name: 'hookinbox_pending_deliveries',
    help: 'Verified deliveries waiting to be written or for their commit (503 past MAX_PENDING_DELIVERIES)',
    registers: [registry],
    collect() {
      if (sources.pendingDeliveries) this.set(sources.pendingDeliveries())
    },
  })
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 })
  const deliveries = new Counter({
    name: 'hookinbox_events_received_total',
    help: 'Verified events by provider and outcome (processed, ignored, failed, parked, duplicate, skipped)',
    labelNames: ['provider', 'outcome'] as const,
    registers: [registry],
  })
  const rejected = new Counter({
    name: 'hookinbox_deliveries_rejected_total',
    help: 'Deliveries refused before reaching the inbox, by provider and reason',
    labelNames: ['provider', 'reason'] as const,
    registers: [registry],
  })
  const duration = new Histogram({
    name: 'hookinbox_delivery_duration_seconds',
    help: 'Time from receiving a delivery to its committed outcome',
    labelNames: ['provider'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  })
  const batches = new Histogram({
    name: 'hookinbox_commit_batch_size',
    help: 'Events written per group commit',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [registry],
  })
  return {
    registry,
    rejected(provider, reason) {
      rejected.inc({ provider, reason })
    },
    outcome(o) {
      deliveries.inc({ provider: o.provider, outcome: o.duplicate ? 'duplicate' : o.status })
    },
    delivered(provider, durationMs) {
      duration.observe({ provider }, durationMs / 1000)
    },
    batch(size) {
      batches.observe(size)
    },
  }
}
