/**
 * Adyen classic webhooks: each NotificationRequestItem carries its own HMAC-SHA256 (hex-decoded key, base64)
 * in `additionalData.hmacSignature`; optional HTTP Basic auth comes on top.
 */
import { adyenItemSignature } from '../providers/adyen.ts'
import { UsageError } from './args.ts'
import type { PreparedEvent } from './events.ts'
import type { AdyenCredentials } from './secrets.ts'
import type { Signer } from './signed-request.ts'

type JsonObject = Record<string, unknown>

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** A copy of the notification with every item signed under `key` (any old signature replaced). */
export function signNotification(notification: JsonObject, key: Buffer): JsonObject {
  const entries = Array.isArray(notification.notificationItems) ? notification.notificationItems : []
  return {
    ...notification,
    notificationItems: entries.map((entry: unknown) => {
      const item =
        isObject(entry) && isObject(entry.NotificationRequestItem) ? entry.NotificationRequestItem : {}
      const additionalData = isObject(item.additionalData) ? item.additionalData : {}
      let hmacSignature: string
      try {
        hmacSignature = adyenItemSignature(item, key)
      } catch (err) {
        throw new UsageError(
          `cannot sign the Adyen item ${String(item.pspReference ?? '')}: ${(err as Error).message}`,
        )
      }
      return { NotificationRequestItem: { ...item, additionalData: { ...additionalData, hmacSignature } } }
    }),
  }
}

export function adyenSigner(event: PreparedEvent, credentials: AdyenCredentials): Signer {
  // Adyen's signature has no timestamp, so every copy gets the same (recomputed) signature.
  signNotification(event.payload, credentials.hmacKey) // surfaces an unsignable item before anything is sent
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (credentials.basicAuth !== undefined) {
    headers.authorization = `Basic ${Buffer.from(credentials.basicAuth, 'utf8').toString('base64')}`
  }
  return () => ({ body: JSON.stringify(signNotification(event.payload, credentials.hmacKey)), headers })
}
