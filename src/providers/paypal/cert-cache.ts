/**
 * Where vetted PayPal certificates are kept, keyed by their URL. A certificate URL names one certificate
 * for its whole life, so a cached entry never needs refreshing; caching makes the network fetch (the slow,
 * failure-prone part of offline verification) happen once per certificate instead of once per delivery.
 * Only certificates that parsed and passed the subject and validity checks are ever stored.
 */

export interface CertCache {
  get(url: string): Promise<string | undefined>
  put(url: string, pem: string): Promise<void>
}

/**
 * An in-process cache. Bounded, evicting the oldest entry first: PayPal rotates certificates every year or
 * two, so a handful of entries is the normal size, and the bound only matters if something goes wrong.
 */
export function createMemoryCertCache(maxEntries = 64): CertCache {
  const entries = new Map<string, string>()
  return {
    async get(url) {
      return entries.get(url)
    },
    async put(url, pem) {
      entries.delete(url)
      entries.set(url, pem)
      while (entries.size > maxEntries) {
        const oldest = entries.keys().next().value
        if (oldest === undefined) break
        entries.delete(oldest)
      }
    },
  }
}

/**
 * Memory in front of a persistent cache (the database), so a restart does not refetch certificates and a
 * warm process does not touch the database. The persistent level is an optimisation only: if it fails, a
 * read counts as a miss (the certificate is fetched again) and a write is skipped (memory still has it),
 * so a cache outage never turns into a rejected delivery.
 */
export function createTieredCertCache(
  persistent: CertCache,
  memory: CertCache = createMemoryCertCache(),
): CertCache {
  return {
    async get(url) {
      const hot = await memory.get(url)
      if (hot !== undefined) return hot
      let stored: string | undefined
      try {
        stored = await persistent.get(url)
      } catch {
        return undefined
      }
      if (stored !== undefined) await memory.put(url, stored)
      return stored
    },
    async put(url, pem) {
      await memory.put(url, pem)
      try {
        await persistent.put(url, pem)
      } catch {
        // Best effort: see above.
      }
    },
  }
}
