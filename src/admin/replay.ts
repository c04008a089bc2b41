/**
 * Operator replays. A replay goes through the inbox exactly like a delivery (same serialised transaction,
 * same exactly-once claim), so a provider retry racing it still gives one effect.
 */
import { isAppError } from '../errors.ts'
import type { Inbox } from '../inbox/inbox.ts'
import type { ProviderName } from '../providers/provider.ts'
import type { EventHistory } from './event-history.ts'
import type { EventFilter } from './list-filter.ts'

export interface BulkReplayResult {
  dryRun: boolean
  matched: number
  events: Array<{
    provider: string
    eventId: string
    type: string
    before: string
    after?: string
    error?: string
  }>
}

const PAGE = 200

export async function bulkReplay(
  history: EventHistory,
  inbox: Inbox,
  filter: EventFilter,
  dryRun: boolean,
): Promise<BulkReplayResult> {
  const result: BulkReplayResult = { dryRun, matched: 0, events: [] }
  let after = 0
  for (;;) {
    const page = await history.replayable(filter, after, PAGE)
    if (page.length === 0) break
    after = page[page.length - 1]?.seq ?? after
    result.matched += page.length
    if (dryRun) {
      for (const e of page)
        result.events.push({ provider: e.provider, eventId: e.eventId, type: e.type, before: e.status })
      continue
    }
    // In order of arrival; the inbox keeps that order, and a page shares group commits.
    const outcomes = await Promise.allSettled(
      page.map((e) => inbox.replay(e.provider as ProviderName, e.eventId)),
    )
    for (const [i, o] of outcomes.entries()) {
      const e = page[i]
      if (!e) continue
      const entry = { provider: e.provider, eventId: e.eventId, type: e.type, before: e.status }
      if (o.status === 'fulfilled') result.events.push({ ...entry, after: o.value.status })
      else result.events.push({ ...entry, error: isAppError(o.reason) ? o.reason.message : 'replay failed' })
    }
    if (page.length < PAGE) break
  }
  return result
}
