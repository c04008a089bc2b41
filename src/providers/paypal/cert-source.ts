/**
 * Turns an allow-listed certificate URL into a vetted certificate: from the cache when possible, otherwise
 * downloaded, parsed and checked, and only then cached. Concurrent deliveries signed with the same new
 * certificate share one download.
 */
import type { X509Certificate } from 'node:crypto'
import type { CertCache } from './cert-cache.ts'
import { type CertFetchOptions, fetchCertPem } from './cert-fetch.ts'
import { checkCertSubject, checkCertValidity, hasPaypalSubject, parseLeafCertificate } from './certificate.ts'
import { unavailable } from './failures.ts'

/**
 * Downloads of different certificates running at once. The URL comes from an unauthenticated request, so
 * without a bound every request naming a new allowed URL held a connection (a socket, a descriptor) for up
 * to the 5 s deadline: at the rate anyone cares to send. Genuine traffic needs one download per new PayPal
 * certificate (a rotation every year or two), shared by every delivery signed with it.
 */
export const MAX_CERT_DOWNLOADS = 4

export interface CertSource {
  /** Resolves with a certificate that has a PayPal subject and is valid at `now`, or throws an AppError. */
  get(url: URL, now: Date): Promise<X509Certificate>
}

/** A cached PEM is re-vetted on read: the persistent level may hold anything, and a bad entry is just a miss. */
function fromCache(pem: string | undefined): X509Certificate | undefined {
  if (pem === undefined) return undefined
  try {
    const cert = parseLeafCertificate(pem)
    return hasPaypalSubject(cert) ? cert : undefined
  } catch {
    return undefined
  }
}

export function createCertSource(cache: CertCache, fetchOptions: CertFetchOptions): CertSource {
  const inFlight = new Map<string, Promise<string>>()

  const download = (url: URL): Promise<string> => {
    const key = url.href
    let pending = inFlight.get(key)
    if (!pending) {
      // 503, and PayPal retries a genuine delivery later, once the downloads under way are done.
      if (inFlight.size >= MAX_CERT_DOWNLOADS)
        return Promise.reject(
          unavailable('cert_fetch_busy', 'too many PayPal certificate downloads at once; retry later'),
        )
      pending = fetchCertPem(url, fetchOptions).finally(() => inFlight.delete(key))
      inFlight.set(key, pending)
    }
    return pending
  }

  return {
    async get(url, now) {
      const cached = fromCache(await cache.get(url.href))
      if (cached) {
        checkCertValidity(cached, now)
        return cached
      }
      const pem = await download(url)
      const cert = parseLeafCertificate(pem)
      checkCertSubject(cert)
      checkCertValidity(cert, now)
      // Only the leaf is kept: it is all verification needs, whatever else the download contained.
      await cache.put(url.href, cert.toString())
      return cert
    },
  }
}
