/**
 * The one small interface every payment provider sits behind: raw request in, verified events out.
 * The inbox, the handlers and the responses never know which provider a delivery came from beyond its name.
 */
export const PROVIDER_NAMES = ['stripe', 'paypal', 'adyen'] as const
export type ProviderName = (typeof PROVIDER_NAMES)[number]

/** A delivery exactly as it arrived: the raw body bytes are what the provider signed. */
export interface RawDelivery {
  readonly headers: Headers
  readonly body: Uint8Array
  /** When the request arrived; verifiers use it as "now" so tests can pin the clock. */
  readonly receivedAt: Date
}

/** One event whose origin and integrity were proven. A delivery may carry several (Adyen batches). */
export interface VerifiedEvent {
  readonly provider: ProviderName
  /** The provider's own idempotency key for the event (unique per provider). */
  readonly id: string
  readonly type: string
  /** The verified JSON of this event (for Adyen: the NotificationRequestItem). */
  readonly payload: unknown
  /** The verified JSON text of `payload` when the provider already has it (spares a re-serialisation). */
  readonly payloadJson?: string
  /** The provider's own timestamp for the event, when it has one. */
  readonly occurredAt?: Date
  /**
   * For a scheme whose signature does not protect the body by itself (PayPal signs only its CRC-32): the
   * signed transmission's id and the SHA-256 (hex) of the body it came with. The inbox binds the two for
   * good, so the same signed headers never carry another body (see `transmissions` in src/db/schema.ts).
   * `signedAt` is the signed transmission time, when it reads as one: the binding is kept from it when it is
   * later than the arrival, since the transmission is accepted for an age counted from it.
   */
  readonly transmission?: { readonly id: string; readonly bodySha256: string; readonly signedAt?: Date }
  /**
   * PayPal with several webhook ids configured: the position (from 0) in PAYPAL_WEBHOOK_ID of the one the
   * delivery verified under, for its log line (an operator retiring an old webhook sees when its deliveries
   * stop). Absent with a single id. Not stored.
   */
  readonly webhookIdIndex?: number
  /**
   * Adyen with ADYEN_BASIC_AUTH_PREVIOUS set: true when the delivery came with those old credentials, for its
   * log line (an operator finishing a password change sees when they stop coming). Not stored.
   */
  readonly previousBasicAuth?: boolean
  /** Stripe: the event's `livemode`, when it is a boolean (test mode is `false`). Not stored. */
  readonly livemode?: boolean
  /**
   * Set when the configuration says not to take such an event (a Stripe test-mode event with
   * STRIPE_TEST_EVENTS=skip): it is answered 200 with status `skipped`, and neither recorded nor run.
   */
  readonly skip?: 'test_mode'
}

export interface Provider {
  readonly name: ProviderName
  /**
   * Proves the delivery came from the provider and returns its events, or throws an AppError:
   * `invalid_signature` / `unauthorized` (forged or malformed: 4xx, never stored), `invalid_event`
   * (verified but not an event), `verification_unavailable` (cannot verify now: 503 so the provider retries).
   */
  verify(delivery: RawDelivery): Promise<VerifiedEvent[]>
  /**
   * The body a fully accepted delivery answers with, when the provider expects a particular one
   * (Adyen: `[accepted]`). When absent the answer is JSON.
   */
  readonly acceptedBody?: string
}
