/**
 * The string PayPal signs for offline (self) verification:
 * `<transmission id>|<transmission time>|<webhook id>|<CRC-32 of the raw body as unsigned decimal>`.
 */
import { crc32 } from 'node:zlib'

/**
 * zlib's CRC-32 (IEEE) over the exact body bytes. `zlib.crc32` already returns the unsigned value; a signed
 * CRC (as some npm packages return) would break about half of all deliveries.
 */
export const paypalCrc32 = (body: Uint8Array): number => crc32(body)

export interface PaypalSignedMessageInput {
  readonly transmissionId: string
  readonly transmissionTime: string
  /** The webhook id PayPal assigned to OUR subscription: always from configuration, never from the request. */
  readonly webhookId: string
  readonly body: Uint8Array
}

/** Header values are used verbatim (the time is not reformatted). */
export function paypalSignedMessage(input: PaypalSignedMessageInput): string {
  return `${input.transmissionId}|${input.transmissionTime}|${input.webhookId}|${paypalCrc32(input.body)}`
}
