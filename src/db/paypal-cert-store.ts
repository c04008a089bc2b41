/**
 * PayPal signing certificates kept in the database, so a restart does not fetch them again. Reads use the
 * read side; writes go through the inbox (on SQLite its single writer connection is shared with open event
 * transactions, so nothing else may write on it directly).
 */
import { eq } from 'drizzle-orm'
import type { QueryDb } from '../inbox/inbox.ts'
import type { CertCache } from '../providers/paypal/index.ts'
import type { Tables } from './tables.ts'

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
      writeLater((db) =>
        db
          .insert(paypalCerts)
          .values({ url, pem, fetchedAt: new Date() })
          .onConflictDoUpdate({ target: paypalCerts.url, set: { pem, fetchedAt: new Date() } }),
      )
    },
  }
}
