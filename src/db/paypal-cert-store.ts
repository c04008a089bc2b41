/**
 * PayPal signing certificates kept in the database, so a restart does not fetch them again. Reads use the
 * read side; writes go through the inbox (on SQLite its single writer connection is shared with open event
 * transactions, so nothing else may write on it directly).
 */
import { desc, eq, notInArray } from 'drizzle-orm'
import type { QueryDb } from '../inbox/inbox.ts'
import type { CertCache } from '../providers/paypal/index.ts'
import type { Tables } from './tables.ts'

/**
 * Certificates kept, the most recently fetched. The URL comes from an unsigned request and any URL at which
 * an allowed host serves a valid PayPal certificate is stored before a signature is checked, so the table is
 * bounded as the memory cache is; PayPal itself needs a handful (and expired ones were never removed).
 */
export const MAX_STORED_CERTS = 64

export function createDbCertCache(
  reader: QueryDb,
  tables: Tables,
  writeLater: (write: (db: QueryDb) => Promise<unknown>) => void,
): CertCache {
  const { paypalCerts } = tables
  return {
    async get(url) {
      const [row] = await reader
        .select({ pem: paypalCerts.pem })
        .from(paypalCerts)
        .where(eq(paypalCerts.url, url))
        .limit(1)
      return row?.pem
    },
    async put(url, pem) {
      const fetchedAt = new Date()
      writeLater(async (db) => {
        await db
          .insert(paypalCerts)
          .values({ url, pem, fetchedAt })
          .onConflictDoUpdate({ target: paypalCerts.url, set: { pem, fetchedAt } })
        const kept = db
          .select({ url: paypalCerts.url })
          .from(paypalCerts)
          .orderBy(desc(paypalCerts.fetchedAt), desc(paypalCerts.url))
          .limit(MAX_STORED_CERTS)
        await db.delete(paypalCerts).where(notInArray(paypalCerts.url, kept))
      })
    },
  }
}
