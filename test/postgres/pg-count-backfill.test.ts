/**
 * The one-off count of the events at start-up (backfillStatusCounts, for events stored without counts: a
 * database from before the counts, or a migrate-to-postgres run stopped before its recount) while other
 * instances take deliveries. A delivery writes its event and its count row in one transaction; the start-up
 * must not count that event a second time, nor fail on the delivery's count row.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openPostgres } from '../../src/db/postgres.ts'
import { freshSchema, type PgSchema, postgresAvailable, untilActivity } from '../support/postgres.ts'

describe.skipIf(!postgresAvailable)('status counts backfilled while deliveries commit', () => {
  let schema: PgSchema

  beforeAll(async () => {
    schema = await freshSchema('backfill')
    await (await openPostgres({ url: schema.url, poolSize: 1 })).close()
  })
  afterAll(async () => {
    await schema?.drop()
  })

  it('an instance starting while a delivery commits its first count neither fails nor counts it twice', async () => {
    // An event stored without a count (copied by a run of migrate-to-postgres that stopped before its recount).
    await schema.query(
      "INSERT INTO hookinbox_events (provider, event_id, type, status, received_at) VALUES ('stripe', 'evt_copied', 't', 'ignored', now())",
    )
    // Another instance's delivery: its event and its count row (shard 0), not committed yet.
    const delivery = new pg.Client({ connectionString: schema.url })
    await delivery.connect()
    let opening: ReturnType<typeof openPostgres> | undefined
    try {
      await delivery.query('BEGIN')
      await delivery.query(
        "INSERT INTO hookinbox_events (provider, event_id, type, status, received_at) VALUES ('stripe', 'evt_live', 't', 'ignored', now())",
      )
      await delivery.query(
        "INSERT INTO hookinbox_status_counts (provider, status, shard, n) VALUES ('stripe', 'ignored', 0, 1)",
      )
      // An instance starts now: it finds no count yet, and events.
      opening = openPostgres({ url: schema.url, poolSize: 1 })
      opening.catch(() => {})
      const pid = (await delivery.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid
      await untilActivity(
        schema,
        "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND $1 = ANY(pg_blocking_pids(pid))",
        [pid],
        'the start-up never waited for the delivery',
      )
      await delivery.query('COMMIT')
      await (await opening).close()
    } finally {
      await delivery.end()
      await opening?.then((d) => d.close()).catch(() => {})
    }
    // The live event counted once, by its delivery. (The copied one is for migrate-to-postgres's recount.)
    const counted = await schema.query<{ n: string }>(
      "SELECT sum(n)::text AS n FROM hookinbox_status_counts WHERE provider = 'stripe' AND status = 'ignored'",
    )
    expect(counted).toEqual([{ n: '1' }])
  })
})
