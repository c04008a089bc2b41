/**
 * The pure RSA check of offline verification: SHA256withRSA (PKCS#1 v1.5) over the signed message, with
 * the public key of the (already vetted) PayPal certificate. No clock, no network.
 */
import { createPublicKey, type KeyObject, verify, X509Certificate } from 'node:crypto'
import { type PaypalSignedMessageInput, paypalSignedMessages } from './signed-message.ts'

export interface PaypalSignatureInput extends PaypalSignedMessageInput {
  /** The PAYPAL-TRANSMISSION-SIG header (base64). */
  readonly signature: string
  /** The signing certificate, parsed or as PEM. */
  readonly certificate: X509Certificate | string
}

function rsaKey(certificate: X509Certificate | string): KeyObject | undefined {
  try {
    const key = certificate instanceof X509Certificate ? certificate.publicKey : createPublicKey(certificate)
    // The header promises RSA; an EC key would make crypto.verify run ECDSA instead.
    return key.asymmetricKeyType === 'rsa' ? key : undefined
  } catch {
    return undefined
  }
}

/**
 * True when the signature is PayPal's over this delivery; false for any mismatch or unusable input. Only the
 * RSA check's own refusal counts as a mismatch: a fault in building the message is thrown, so that it is
 * answered 5xx (PayPal retries) rather than refused as a forged delivery.
 */
export function verifyPaypalSignature(input: PaypalSignatureInput): boolean {
  return matchPaypalWebhookId(input, [input.webhookId]) === 0
}

/**
 * The position in `webhookIds` of the first id under which the signature is PayPal's over this delivery, or
 * -1 when there is none (a mismatch under every id, or unusable input). As verifyPaypalSignature, per id.
 */
export function matchPaypalWebhookId(
  input: Omit<PaypalSignatureInput, 'webhookId'>,
  webhookIds: readonly string[],
): number {
  const key = rsaKey(input.certificate)
  if (!key) return -1
  const signature = Buffer.from(input.signature, 'base64')
  if (signature.length === 0) return -1
  const messages = paypalSignedMessages(input, webhookIds).map((message) => Buffer.from(message, 'utf8'))
  return messages.findIndex((message) => {
    try {
      return verify('sha256', message, key, signature)
    } catch {
      return false
    }
  })
}
