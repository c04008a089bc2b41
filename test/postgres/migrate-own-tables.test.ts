/**
 * Moving to PostgreSQL carries your own tables too: the rows the example handlers wrote in SQLite arrive in
 * their PostgreSQL twins (handlers/_schema.pg.ts) with their types converted (integer dates become
 * timestamps), an auto-numbered key continues after the copied rows, and a second run leaves tables
 * PostgreSQL already holds rows of as they are.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { migrateToPostgres } from '../../src/tools/migrate-to-postgres.ts'
import { freshSchema, type PgSchema, postgresAvailable } from '../support/postgres.ts'
import { postStripe, stripeEvent, uniqueId } from '../support/stripe-signing.ts'
import { PROJECT_ROOT } from '../support/temp-dir.ts'
import { startTestService } from '../support/test-service.ts'

const HANDLERS = `${PROJECT_ROOT}/handlers`

const paidCheckout = (sessionId: string, created: number) =>
  stripeEvent({
    type: 'checkout.session.completed',
    created,
    data: {
      object: { id: sessionId, object: 'checkout.session', payment_status: 'paid', amount_total: 4200 },
    },
  })

const refund = () =>
  stripeEvent({
    type: 'refund.created',
    data: {
      object: {
        id: uniqueId('re'),
        object: 'refund',
        amount: 500,
        charge: uniqueId('ch'),
        currency: 'eur',
        status: 'succeeded',
      },
    },
  })

describe.skipIf(!postgresAvailable)('moving your own tables to PostgreSQL', () => {
  let schema: PgSchema | undefined
  afterAll(async () => {
    await schema?.drop()
  })

  it('copies them through their twins, continues their sequences, and a second run leaves them as PostgreSQL holds them', async () => {
    const sqlite = await startTestService({ env: { HANDLERS_DIR: HANDLERS } })
    try {
      const created = Math.floor(Date.now() / 1000) - 3600
      const sessions = [uniqueId('cs'), uniqueId('cs')]
      for (const id of sessions)
        expect((await postStripe(sqlite.url, paidCheckout(id, created))).status).toBe(200)
      for (let i = 0; i < 3; i++) expect((await postStripe(sqlite.url, refund())).status).toBe(200)

      schema = await freshSchema('own')
      const lines: string[] = []
      const first = await migrateToPostgres(sqlite.dbPath, schema.url, (l) => lines.push(l), {
        handlersDir: HANDLERS,
      })
      expect(first.ownTables).toEqual([
        { table: 'paid_checkouts', copied: 2 },
        { table: 'refunds', copied: 3 },
        { table: 'subscriptions', copied: 0 },
      ])
      expect(lines).toContain('your table refunds: 3 rows copied')
      const checkouts = await schema.query<{ session_id: string; paid_at: Date }>(
        'SELECT session_id, paid_at FROM paid_checkouts ORDER BY session_id',
      )
      expect(checkouts.map((c) => c.session_id)).toEqual([...sessions].sort())
      // A SQLite integer date arrives as a timestamp, the same instant.
      expect(checkouts[0]?.paid_at).toBeInstanceOf(Date)
      expect(checkouts[0]?.paid_at.getTime()).toBe(created * 1000)

      // The sequence continues after the copied ids: a row inserted now does not take one of theirs.
      const [next] = await schema.query<{ id: string }>(
        "INSERT INTO refunds (provider, reference, recorded_at) VALUES ('stripe', 'new', now()) RETURNING id",
      )
      const [copiedMax] = await schema.query<{ m: string }>(
        "SELECT max(id) AS m FROM refunds WHERE reference <> 'new'",
      )
      expect(Number(next?.id)).toBeGreaterThan(Number(copiedMax?.m))

      // A second run (SQLite took one more refund meanwhile) leaves what PostgreSQL holds as it is, and says so.
      expect((await postStripe(sqlite.url, refund())).status).toBe(200)
      const second = await migrateToPostgres(sqlite.dbPath, schema.url, () => {}, { handlersDir: HANDLERS })
      expect(second.ownTables.map((t) => [t.table, t.copied, t.skipped !== undefined])).toEqual([
        ['paid_checkouts', 0, true],
        ['refunds', 0, true],
        ['subscriptions', 0, false],
      ])
      expect(await schema.query('SELECT count(*)::int AS n FROM refunds')).toEqual([{ n: 4 }])
    } finally {
      await sqlite.dispose()
    }
  })
})
