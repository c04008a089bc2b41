/**
 * The PayPal certificate store on PostgreSQL keeps at most MAX_STORED_CERTS certificates, as on SQLite
 * (hostile/paypal-cert-downloads.test.ts): the URLs come from unsigned requests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDbCertCache, MAX_STORED_CERTS } from '../../src/db/paypal-cert-store.ts'
import { openPostgres, type PostgresDatabase } from '../../src/db/postgres.ts'
import { pgTables } from '../../src/db/tables.ts'
import type { QueryDb } from '../../src/inbox/inbox.ts'
import { pki } from '../providers/paypal-fixtures.ts'
import { freshSchema, type PgSchema, postgresAvailable } from '../support/postgres.ts'
import { inboxOn } from './pruning.ts'

describe.skipIf(!postgresAvailable)('the PayPal certificate store on PostgreSQL', () => {
  let schema: PgSchema
  let database: PostgresDatabase

  beforeAll(async () => {
    schema = await freshSchema('certs')
    database = await openPostgres({ url: schema.url, poolSize: 2 })
  })
  afterAll(async () => {
    await database?.close()
    await schema?.drop()
  })

  it(`keeps at most ${MAX_STORED_CERTS} certificates, however many URLs were stored`, async () => {
    const inbox = inboxOn(database)
    const store = createDbCertCache(database.db as unknown as QueryDb, pgTables, inbox.writeLater)
    for (let i = 0; i < MAX_STORED_CERTS + 20; i++) {
      await store.put(`https://api.paypal.com/v1/notifications/certs/CERT-${i}`, pki.signingCert)
    }
    // Waits for the deferred writes.
    await inbox.close()
    const [row] = await schema.query<{ n: string }>('SELECT count(*) AS n FROM hookinbox_paypal_certs')
    expect(Number(row?.n)).toBe(MAX_STORED_CERTS)
  })
})
