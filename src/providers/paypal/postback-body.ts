/**
 * The request body for POST /v1/notifications/verify-webhook-signature. PayPal checks the signature
 * against the `webhook_event` it receives, so the delivered JSON must be spliced in byte for byte: parsing
 * and re-serialising would turn `1.0` into `1` (and other languages turn `{}` into `[]`), and verification
 * would then fail for genuine deliveries.
 */
import type { PaypalTransmission } from './headers.ts'

/** `rawEvent` must come from jsonObjectText (one JSON object, nothing around it). Field order follows PayPal's documentation. */
export function postbackBody(transmission: PaypalTransmission, webhookId: string, rawEvent: string): string {
  const J = JSON.stringify
  return (
    `{"auth_algo":${J(transmission.authAlgo)},"cert_url":${J(transmission.certUrl)}` +
    `,"transmission_id":${J(transmission.transmissionId)},"transmission_sig":${J(transmission.transmissionSig)}` +
    `,"transmission_time":${J(transmission.transmissionTime)},"webhook_id":${J(webhookId)}` +
    `,"webhook_event":${rawEvent}}`
  )
}
