/**
 * PayPal: five PAYPAL-* headers; the signature is SHA256withRSA over
 * `<transmission id>|<transmission time>|<webhook id>|<CRC-32 of the body, unsigned decimal>`.
 * Locally it is made with the development key, named by the reserved development certificate URL.
 */
import { createPrivateKey, randomUUID, sign } from 'node:crypto'
import { PAYPAL_AUTH_ALGO, paypalSignedMessage } from '../providers/paypal/index.ts'
import type { PreparedEvent } from './events.ts'
import type { PaypalSigningKey } from './secrets.ts'
import type { Signer } from './signed-request.ts'

export const paypalBody = (event: PreparedEvent): string => event.verbatim ?? JSON.stringify(event.payload)

export function paypalSigner(event: PreparedEvent, key: PaypalSigningKey): Signer {
  const body = paypalBody(event)
  const bytes = Buffer.from(body, 'utf8')
  const privateKey = createPrivateKey(key.privateKeyPem)
  return (now) => {
    // Every copy is a new transmission: new id, new time, new signature; the event id stays.
    const transmissionId = randomUUID()
    const transmissionTime = now.toISOString().replace(/\.\d{3}Z$/, 'Z')
    const message = paypalSignedMessage({
      transmissionId,
      transmissionTime,
      webhookId: key.webhookId,
      body: bytes,
    })
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'paypal-transmission-id': transmissionId,
        'paypal-transmission-time': transmissionTime,
        'paypal-transmission-sig': sign('sha256', Buffer.from(message, 'utf8'), privateKey).toString(
          'base64',
        ),
        'paypal-cert-url': key.certUrl,
        'paypal-auth-algo': PAYPAL_AUTH_ALGO,
        'paypal-auth-version': 'v2',
      },
    }
  }
}
