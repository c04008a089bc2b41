/**
 * Reads the service's answers: what happened to the event on each delivery (first seen and processed,
 * ignored, parked, or a duplicate), and the one-line summary of a whole send.
 */
import type { ProviderName } from '../providers/provider.ts'
import type { Delivery } from './deliver.ts'

export interface Summary {
  deliveries: number
  /** Copies never sent because the connection failed first. */
  skipped: number
  /** HTTP status (or network error code) → count. */
  statuses: Record<string, number>
  /** True when every copy was sent and got a 2xx. */
  ok: boolean
  /** Deliveries where the event was new, by the status it reached (processed, ignored, parked, failed). */
  recorded: Record<string, number>
  duplicates: number
  /** 2xx answers that do not say whether the event was new (Adyen's `[accepted]`). */
  unreported: number
}

interface Outcome {
  duplicate: boolean
  status: string
}

/** The outcomes a hookinbox JSON answer reports: `{duplicate, status}` or `{events: [{duplicate, status}…]}`. */
export function outcomesOf(text: string | undefined): Outcome[] | undefined {
  if (!text) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return undefined
  }
  const read = (value: unknown): Outcome | undefined => {
    const v = value as { duplicate?: unknown; status?: unknown } | null
    return typeof v?.duplicate === 'boolean' && typeof v.status === 'string'
      ? { duplicate: v.duplicate, status: v.status }
      : undefined
  }
  const events = (parsed as { events?: unknown } | null)?.events
  if (Array.isArray(events)) {
    const outcomes = events.map(read)
    return outcomes.every((o) => o !== undefined) ? (outcomes as Outcome[]) : undefined
  }
  const single = read(parsed)
  return single ? [single] : undefined
}

const is2xx = (d: Delivery) => d.status !== undefined && d.status >= 200 && d.status < 300

export function summarize(deliveries: readonly Delivery[], skipped: number): Summary {
  const summary: Summary = {
    deliveries: deliveries.length,
    skipped,
    statuses: {},
    ok: skipped === 0 && deliveries.length > 0 && deliveries.every(is2xx),
    recorded: {},
    duplicates: 0,
    unreported: 0,
  }
  for (const d of deliveries) {
    const key = d.status === undefined ? (d.error?.code ?? 'error') : String(d.status)
    summary.statuses[key] = (summary.statuses[key] ?? 0) + 1
    if (!is2xx(d)) continue
    const outcomes = outcomesOf(d.text)
    if (!outcomes) {
      summary.unreported += 1
      continue
    }
    for (const o of outcomes) {
      if (o.duplicate) summary.duplicates += 1
      else summary.recorded[o.status] = (summary.recorded[o.status] ?? 0) + 1
    }
  }
  return summary
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`

export function formatSummary(summary: Summary, provider: ProviderName): string {
  const statuses = Object.entries(summary.statuses)
    .map(([status, n]) => `${n} × ${status}`)
    .join(', ')
  const parts = [`${plural(summary.deliveries, 'delivery', 'deliveries')}: ${statuses || 'none'}`]
  const outcomes = [
    ...Object.entries(summary.recorded).map(([status, n]) => `${n} ${status}`),
    ...(summary.duplicates > 0 ? [plural(summary.duplicates, 'duplicate')] : []),
  ]
  if (outcomes.length > 0) parts.push(outcomes.join(', '))
  let line = parts.join(' · ')
  if (summary.skipped > 0) line += ` (${summary.skipped} more not sent after the connection failed)`
  if (summary.unreported > 0) {
    line +=
      provider === 'adyen'
        ? "\n  Adyen's answer is [accepted] for new and duplicate events alike: the admin page shows which was which"
        : `\n  ${plural(summary.unreported, 'answer')} did not say what happened to the event`
  }
  return line
}

/** The answer's body on one line, short enough for a terminal. */
export function compactBody(text: string | undefined, max = 240): string {
  if (text === undefined || text === '') return '(empty)'
  let compact: string
  try {
    compact = JSON.stringify(JSON.parse(text))
  } catch {
    compact = text.replace(/\s+/g, ' ').trim()
  }
  return compact.length > max ? `${compact.slice(0, max - 1)}…` : compact
}
