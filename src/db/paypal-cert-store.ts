/**
 * PayPal signing certificates kept in the database, so a restart does not fetch them again. Reads use the
 * read connection; writes are queued for the inbox's next transaction (the only writer).
 */
import { eq } from 'drizzle-orm'
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3'
import type { CertCache } from '../providers/paypal/index.ts'
import { paypalCerts } from './schema.ts'

export function createSqliteCertCache(
  reader: BetterSQLite3Database,
  writeLater: (write: (db: BetterSQLite3Database) => void) => void,
): CertCache {
  return {
    async get(url) {
      return reader.select({ pem: paypalCerts.pem }).from(paypalCerts).where(eq(paypalCerts.url, url)).get()
        ?.pem
    },
    async put(url, pem) {
      writeLater((db) =>
        db
          .insert(paypalCerts)
          .values({ url, pem, fetchedAt: new Date() })
          .onConflictDoUpdate({ target: paypalCerts.url, set: { pem, fetchedAt: new Date() } })
          .run(),
      )
    },
  }
}
