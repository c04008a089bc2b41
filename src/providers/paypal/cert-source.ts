/**
 * Turns an allow-listed certificate URL into a vetted certificate: from the cache when possible, otherwise
 * downloaded, parsed and checked, and only then cached. Concurrent deliveries signed with the same new
 * certificate share one download.
 */
import type { X509Certificate } from 'node:crypto'
import type { CertCache } from './cert-cache.ts'
import { type CertFetchOptions, fetchCertPem } from './cert-fetch.ts'
import { checkCertSubject, checkCertValidity, hasPaypalSubject, parseLeafCertificate } from './certificate.ts'

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
