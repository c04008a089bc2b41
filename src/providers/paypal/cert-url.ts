/**
 * PAYPAL-CERT-URL comes from the request, so it is attacker-controlled: fetching it blindly is both an SSRF
 * hole and a key-substitution attack (the attacker serves their own certificate). Every official SDK
 * fetches it unchecked; this module decides, without any network access, whether a URL may be fetched.
 */
import { rejected } from './failures.ts'

export const CERT_PATH_PREFIX = '/v1/notifications/certs/'

/** The last path segment: a plain certificate name such as `CERT-360caa42-fca2a594-a5cafa77`. */
const CERT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/

/** Traversal and encoding tricks are refused outright, even where normalisation would make them harmless. */
const SUSPICIOUS = /\.\.|%2e|%2f|%5c|\\/i

interface HostEntry {
  readonly hostname: string
  /** '' means the https default port (443), exactly as `URL.port` reports it. */
  readonly port: string
}

/**
 * Parses one allow-list entry (`host` or `host:port`, IPv6 in brackets) with the same WHATWG parser that
 * parses the incoming URL, so both sides are canonicalised identically (case, IP forms, default port).
 */
export function parseCertHost(entry: string): HostEntry | undefined {
  if (entry.length === 0 || /[/?#@\s]/.test(entry)) return undefined
  try {
    const url = new URL(`https://${entry}`)
    if (url.pathname !== '/' || url.username || url.password) return undefined
    return { hostname: url.hostname, port: url.port }
  } catch {
    return undefined
  }
}

const notAllowed = (detail: string) =>
  rejected('cert_url_not_allowed', `PAYPAL-CERT-URL is not an allowed PayPal certificate URL (${detail})`)

/**
 * Returns the parsed URL when it may be fetched, or throws AppError invalid_signature/cert_url_not_allowed.
 * Rules: https only; host and port exactly in `hosts` (an entry without a port allows only 443);
 * no credentials, query or fragment; path `/v1/notifications/certs/<name>` after normalisation.
 */
export function checkCertUrl(raw: string, hosts: readonly string[]): URL {
  if (raw.length > 2048) throw notAllowed('too long')
  if (SUSPICIOUS.test(raw)) throw notAllowed('path tricks')
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw notAllowed('not a URL')
  }
  if (url.protocol !== 'https:') throw notAllowed('not https')
  if (url.username !== '' || url.password !== '') throw notAllowed('credentials in URL')
  if (url.search !== '' || url.hash !== '') throw notAllowed('query or fragment')
  const hostAllowed = hosts.some((entry) => {
    const allowed = parseCertHost(entry)
    return allowed !== undefined && allowed.hostname === url.hostname && allowed.port === url.port
  })
  if (!hostAllowed) throw notAllowed('host not allowed')
  // `url.pathname` is already normalised (dot segments resolved), so the prefix check sees the real path.
  if (!url.pathname.startsWith(CERT_PATH_PREFIX)) throw notAllowed('wrong path')
  if (!CERT_NAME.test(url.pathname.slice(CERT_PATH_PREFIX.length))) throw notAllowed('wrong path')
  return url
}
