/**
 * Warnings about the configuration that only the traffic shows: the settings are right for some deliveries
 * and the operator must act before they are wrong for others.
 *
 * - ADYEN_BASIC_AUTH_PREVIOUS: while Adyen still sends the old credentials, a warning at most once a minute
 *   with the count since the last one. The password change is finished when it stops (while deliveries go on).
 * - A Stripe test-mode event ran on an instance that also receives live events: a live Connect endpoint gets
 *   the test-mode events of live-connected accounts, and handlers that do not check `livemode` treat them as
 *   real. Said once per process; STRIPE_TEST_EVENTS=skip is the fix.
 */
import type { Logger } from 'pino'
import type { VerifiedEvent } from '../providers/provider.ts'

const PREVIOUS_CREDENTIALS_EVERY_MS = 60_000

export interface TrafficAdvice {
  /** Called with the events of every verified delivery. */
  verified(events: readonly VerifiedEvent[]): void
}

export function createTrafficAdvice(log: Logger, now: () => Date): TrafficAdvice {
  let previousCredentials = 0
  let previousCredentialsSaidAt = Number.NEGATIVE_INFINITY
  let stripeLiveSeen = false
  let stripeTestRan = false
  let stripeModesSaid = false

  return {
    verified(events) {
      const [first] = events
      if (first?.previousBasicAuth) {
        previousCredentials++
        const at = now().getTime()
        if (at - previousCredentialsSaidAt >= PREVIOUS_CREDENTIALS_EVERY_MS) {
          log.warn(
            { provider: first.provider, deliveries: previousCredentials },
            'Adyen still sends the credentials of ADYEN_BASIC_AUTH_PREVIOUS: change them in the Customer Area, and remove ADYEN_BASIC_AUTH_PREVIOUS once this warning has stopped while deliveries went on',
          )
          previousCredentials = 0
          previousCredentialsSaidAt = at
        }
      }
      if (stripeModesSaid) return
      for (const event of events) {
        if (event.provider !== 'stripe') continue
        if (event.livemode === true) stripeLiveSeen = true
        else if (event.livemode === false && event.skip === undefined) stripeTestRan = true
      }
      if (stripeLiveSeen && stripeTestRan) {
        stripeModesSaid = true
        log.warn(
          { provider: 'stripe' },
          'Stripe test-mode events run here beside live ones (a live Connect endpoint receives both): set STRIPE_TEST_EVENTS=skip, unless your handlers check event.payload.livemode',
        )
      }
    },
  }
}
