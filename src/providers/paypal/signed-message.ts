/**
 * The string PayPal signs for offline (self) verification:
 * `<transmission id>|<transmission time>|<webhook id>|<CRC-32 of the raw body as unsigned decimal>`.
 */

/** The byte table of the standard (IEEE, reflected polynomial 0xEDB88320) CRC-32 that zlib computes. */
const CRC_TABLE = new Uint32Array(256)
for (let n = 0; n < 256; n++) {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  CRC_TABLE[n] = c
}

/**
 * zlib's CRC-32 (IEEE) over the exact body bytes, as an unsigned integer; a signed CRC (as some npm packages
 * return) would break about half of all deliveries. Computed here rather than with `zlib.crc32`, which only
 * exists from Node 20.15 (22.2): the service supports Node 20.12, where importing it stops the start-up.
 */
export function paypalCrc32(body: Uint8Array): number {
  let crc = 0xffffffff
  for (const byte of body) crc = (CRC_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

export interface PaypalSignedMessageInput {
  readonly transmissionId: string
  readonly transmissionTime: string
  /** The webhook id PayPal assigned to OUR subscription: always from configuration, never from the request. */
  readonly webhookId: string
  readonly body: Uint8Array
}

/** Header values are used verbatim (the time is not reformatted). */
export function paypalSignedMessage(input: PaypalSignedMessageInput): string {
  return paypalSignedMessages(input, [input.webhookId])[0] as string
}

/**
 * The message for each of several webhook ids, in their order, the body's CRC-32 computed once: the only part
 * that differs between webhooks is the id, so one delivery is checked against each configured id.
 */
export function paypalSignedMessages(
  input: Omit<PaypalSignedMessageInput, 'webhookId'>,
  webhookIds: readonly string[],
): string[] {
  const crc = paypalCrc32(input.body)
  return webhookIds.map(
    (webhookId) => `${input.transmissionId}|${input.transmissionTime}|${webhookId}|${crc}`,
  )
}
