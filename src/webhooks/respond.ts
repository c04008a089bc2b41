/**
 * Turns the outcomes of a delivery's events into the answer the provider sees. A provider stops retrying on
 * any 2xx, so a 2xx goes out only when every event of the delivery is durably settled (processed, ignored,
 * duplicate or parked) or skipped by the configuration. Any failed event makes the whole delivery 500, so the provider sends it again; the
 * events already settled then come back as duplicates.
 */
import type { Outcome } from '../inbox/inbox.ts'
import type { Provider } from '../providers/provider.ts'

/**
 * What a delivery's event came to: the inbox's outcome, or `skipped` for an event the configuration does not
 * take (see VerifiedEvent.skip), which was neither recorded nor run.
 */
export type Answer =
  | Pick<Outcome, 'provider' | 'eventId' | 'type' | 'status' | 'duplicate'>
  | { provider: Outcome['provider']; eventId: string; type: string; status: 'skipped'; duplicate: false }

export function respond(provider: Provider, outcomes: readonly Answer[]): Response {
  const failed = outcomes.filter((o) => o.status === 'failed')
  if (failed.length > 0) {
    const ids = failed.map((o) => o.eventId).join(', ')
    return Response.json(
      { error: `a handler failed for ${ids}; the delivery will be retried`, status: 'failed' },
      { status: 500 },
    )
  }
  if (provider.acceptedBody !== undefined) {
    return new Response(provider.acceptedBody, { status: 200, headers: { 'content-type': 'text/plain' } })
  }
  const [only] = outcomes
  if (outcomes.length === 1 && only) {
    return Response.json({ received: true, duplicate: only.duplicate, status: only.status })
  }
  return Response.json({
    received: true,
    events: outcomes.map((o) => ({ eventId: o.eventId, duplicate: o.duplicate, status: o.status })),
  })
}
