/**
 * API ("postback") verification: PayPal itself checks the delivery. Outcomes map as: SUCCESS → verified;
 * FAILURE (or PayPal rejecting the request as invalid) → 400, the delivery is forged or malformed;
 * anything else (unreachable, timeout, 5xx, 429, unreadable answer) → 503 so PayPal redelivers later.
 */
import { apiUrl, type PaypalApiOptions } from './api-config.ts'
import { rejected, unavailable } from './failures.ts'
import type { PaypalTransmission } from './headers.ts'
import type { TokenSource } from './oauth-token.ts'
import { postbackBody } from './postback-body.ts'

export type ApiVerifier = (transmission: PaypalTransmission, rawEvent: string) => Promise<void>

/**
 * Verifications waiting on PayPal at once. Each one is a request anyone can make (the headers are checked by
 * PayPal, not here) and holds an outbound connection for up to the timeout: unbounded, a flood of unsigned
 * deliveries would pile up sockets and spend the merchant's API quota. Beyond the bound a delivery is
 * answered 503 and PayPal retries it; genuine traffic needs one call per delivery, far fewer at once.
 */
export const MAX_API_VERIFICATIONS = 64

export function createApiVerifier(
  api: PaypalApiOptions,
  webhookId: string,
  tokens: TokenSource,
  timeoutMs: number,
): ApiVerifier {
  const url = apiUrl(api.baseUrl, '/v1/notifications/verify-webhook-signature')

  async function post(token: string, body: string): Promise<{ status: number; json: unknown }> {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body,
        // Never followed: a 307 or 308 would re-send the delivery's payload to wherever the answer points
        // (PAYPAL_API_BASE names the only place it may go). A 3xx is then a 503 like any other non-200.
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      })
      const text = await res.text()
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        json = undefined
      }
      return { status: res.status, json }
    } catch (err) {
      throw unavailable('paypal_api_unavailable', 'PayPal verification API unreachable', err)
    }
  }

  let inFlight = 0

  return async (transmission, rawEvent) => {
    const body = postbackBody(transmission, webhookId, rawEvent)
    if (inFlight >= MAX_API_VERIFICATIONS)
      throw unavailable('paypal_api_busy', 'too many PayPal verifications at once; retry later')
    inFlight++
    try {
      await verifyWithPaypal(body)
    } finally {
      inFlight--
    }
  }

  async function verifyWithPaypal(body: string): Promise<void> {
    let token = await tokens.get()
    let res = await post(token, body)
    if (res.status === 401) {
      // The cached token was revoked or expired early: drop it and try once more with a fresh one.
      tokens.invalidate(token)
      token = await tokens.get()
      res = await post(token, body)
      if (res.status === 401) {
        tokens.invalidate(token)
        throw unavailable('paypal_api_unauthorized', 'PayPal verification API refused our token')
      }
    }
    if (res.status === 400 || res.status === 422) {
      // PayPal found the request itself invalid; every field but webhook_id comes from the delivery.
      throw rejected('paypal_rejected', 'PayPal rejected the verification request')
    }
    if (res.status !== 200)
      throw unavailable('paypal_api_unavailable', `PayPal verification API answered HTTP ${res.status}`)
    const status =
      typeof res.json === 'object' && res.json !== null
        ? (res.json as Record<string, unknown>).verification_status
        : undefined
    if (status === 'SUCCESS') return
    if (status === 'FAILURE') throw rejected('bad_signature', 'PayPal reports the signature as invalid')
    throw unavailable('paypal_api_unavailable', 'PayPal verification API gave an unreadable answer')
  }
}
