/**
 * Bounds the verified deliveries the service holds at once: waiting for the write loop, in its transaction,
 * or waiting for the commit's fsync. Each holds its body, its parsed events and an open request until its
 * events are settled.
 *
 * The work only waits when handlers are slower than deliveries arrive (a handler calling a slow service, a
 * burst of retries after an outage). Without a bound that backlog grows with the traffic until the process
 * runs out of memory, and most of it is answered after the provider has given up waiting anyway. Past the
 * bound a delivery is answered 503 at once, before its events reach the inbox, so nothing of it is written
 * and the provider sends it again later, like any 503.
 */

export interface AdmissionLimits {
  /** Verified deliveries held at once. */
  maxDeliveries: number
  /**
   * Their raw body bytes: a delivery is refused once this much is held. One is admitted below it whatever its
   * size, so at most this plus one body (MAX_BODY_BYTES) is held.
   */
  maxBytes: number
}

export interface Admission {
  /** Admits a delivery of `bytes`, returning its release (idempotent), or `undefined` past a limit. */
  admit(bytes: number): (() => void) | undefined
  /** Deliveries held now (metrics, tests). */
  readonly pending: number
}

export function createAdmission(limits: AdmissionLimits): Admission {
  let deliveries = 0
  let bytes = 0
  return {
    admit(size) {
      // Refused by what is held, never by its own size: a delivery that does not fit in what is left of
      // maxBytes (MAX_BODY_BYTES may exceed it) would wait for a moment when nothing at all is held, which
      // never comes under steady traffic, and be refused on every retry until its provider gave up.
      if (deliveries >= limits.maxDeliveries || bytes >= limits.maxBytes) return
      deliveries++
      bytes += size
      let held = true
      return () => {
        if (!held) return
        held = false
        deliveries--
        bytes -= size
      }
    },
    get pending() {
      return deliveries
    },
  }
}
