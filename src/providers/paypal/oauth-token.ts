/**
 * OAuth2 client-credentials token for PayPal's REST API, cached until shortly before it expires (PayPal
 * tokens live for hours, so a busy receiver asks for one rarely). Concurrent callers share one request.
 */
import { apiUrl, type PaypalApiOptions } from './api-config.ts'
import { unavailable } from './failures.ts'

export interface TokenSource {
  get(): Promise<string>
  /** Drops `token` if it is still the cached one (PayPal answered 401 to it). */
  invalidate(token: string): void
}

/** Refresh this long before PayPal's stated expiry, so a token never expires in flight. */
const EXPIRY_MARGIN_MS = 60_000

export function createTokenSource(
  api: PaypalApiOptions,
  timeoutMs: number,
  clock: () => number = Date.now,
): TokenSource {
  let cached: { token: string; expiresAt: number } | undefined
  let pending: Promise<string> | undefined
  const basic = Buffer.from(`${api.clientId}:${api.clientSecret}`, 'utf8').toString('base64')

  async function requestToken(): Promise<string> {
    let res: Response
    let text: string
    try {
      res = await fetch(apiUrl(api.baseUrl, '/v1/oauth2/token'), {
        method: 'POST',
        headers: {
          authorization: `Basic ${basic}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: 'grant_type=client_credentials',
        // A redirect is answered as what it is (not 2xx, so a 503), never followed: following it would send
        // the grant to wherever the answer points.
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      })
      text = res.ok ? await res.text() : ''
      // Unread, the answer would hold its connection until garbage collection: one more per failed attempt
      // while PayPal's API is down.
      if (!res.ok) await res.body?.cancel()
    } catch (err) {
      throw unavailable('paypal_api_unavailable', 'PayPal API token request failed', err)
    }
    // A 401 here means our credentials are wrong: a configuration problem, so still "cannot verify now".
    if (!res.ok)
      throw unavailable('paypal_token_failed', `PayPal API token request answered HTTP ${res.status}`)
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      // No cause: V8's SyntaxError quotes the start of the text, which may be the token itself (it would be
      // logged with the 503's cause).
      throw unavailable('paypal_token_failed', 'PayPal API token response is not JSON')
    }
    const record = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>
    const token = record.access_token
    if (typeof token !== 'string' || token.length === 0) {
      throw unavailable('paypal_token_failed', 'PayPal API token response has no access_token')
    }
    const lifetimeS = typeof record.expires_in === 'number' && record.expires_in > 0 ? record.expires_in : 0
    cached = { token, expiresAt: clock() + lifetimeS * 1000 - EXPIRY_MARGIN_MS }
    return token
  }

  return {
    get() {
      if (cached && clock() < cached.expiresAt) return Promise.resolve(cached.token)
      if (!pending) pending = requestToken().finally(() => (pending = undefined))
      return pending
    },
    invalidate(token) {
      if (cached?.token === token) cached = undefined
    },
  }
}
