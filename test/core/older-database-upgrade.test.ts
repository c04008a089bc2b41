/**
 * A database written by an older hookinbox opens in this one: for every earlier version (the first N
 * migrations of the journal), a database built with that version's migrations and holding what that version
 * wrote (processed, ignored, failed and parked events with their attempt logs, one pruned by retention, a
 * handler's effects, rejection counts, a row of the user's own tables) is opened through the real start-up
 * path, on SQLite and (when TEST_DATABASE_URL is set) on PostgreSQL. The later migrations apply, nothing is
 * lost, settled events stay duplicates whose handlers do not run again, a failed event replays, the status
 * counts equal the events, and the admin list shows the old events as they were.
 *
 * The old rows are written with plain SQL in the columns the migrations up to N create. The events and
 * attempts tables have had the same columns since the first migration; a migration that changes them must
 * make the rows here follow each version's columns.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { drizzle as sqliteDrizzle } from 'drizzle-orm/better-sqlite3'
import { migrate as sqliteMigrate } from 'drizzle-orm/better-sqlite3/migrator'
import { drizzle as pgDrizzle } from 'drizzle-orm/node-postgres'
import { migrate as pgMigrate } from 'drizzle-orm/node-postgres/migrator'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import type { EventDetail, EventPage, Stats } from '../../src/admin/event-history.ts'
import { PG_MIGRATIONS } from '../../src/db/postgres.ts'
import { SQLITE_MIGRATIONS } from '../../src/db/sqlite.ts'
import { adminGet, adminPost } from '../support/admin-client.ts'
import { freshSchema, pgEffectHandler, postgresAvailable } from '../support/postgres.ts'
import { postStripe, stripeEvent, uniqueId } from '../support/stripe-signing.ts'
import { tempDir } from '../support/temp-dir.ts'
import { EFFECTS_TABLE_SQL, effectHandler, startTestService } from '../support/test-service.ts'

const scratch = mkdtempSync(join(tmpdir(), 'hookinbox-upgrade-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

interface Journal {
  entries: Array<{ idx: number; tag: string; when: number }>
}
const journalOf = (folder: string) =>
  JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8')) as Journal

/** The migrations folder an older hookinbox shipped: the first `n` entries of the journal and their SQL. */
function olderMigrations(folder: string, n: number): string {
  const journal = journalOf(folder)
  const older = mkdtempSync(join(scratch, `first-${n}-`))
  mkdirSync(join(older, 'meta'))
  const entries = journal.entries.slice(0, n)
  for (const e of entries) cpSync(join(folder, `${e.tag}.sql`), join(older, `${e.tag}.sql`))
  writeFileSync(join(older, 'meta', '_journal.json'), JSON.stringify({ ...journal, entries }))
  return older
}

/** The old database, read and written with plain SQL ($1-style parameters on both dialects). */
interface OldDatabase {
  /** What the service is started with to open it. */
  service: { env?: Record<string, string>; dir?: string; ownDir?: boolean }
  handler: string
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>
  hasTable(name: string): Promise<boolean>
  /** A time as this dialect's hookinbox stores it. */
  time(d: Date): unknown
  drop(): Promise<void>
}

async function sqliteAsOfVersion(n: number): Promise<OldDatabase> {
  const dir = tempDir('upgrade')
  const path = join(dir.path, 'hookinbox.db')
  const db = new Database(path)
  try {
    // As the older hookinbox opened it.
    db.pragma('journal_mode = WAL')
    db.pragma('foreign_keys = ON')
    sqliteMigrate(sqliteDrizzle(db), { migrationsFolder: olderMigrations(SQLITE_MIGRATIONS, n) })
    db.exec(EFFECTS_TABLE_SQL)
  } finally {
    db.close()
  }
  const query = async <T>(text: string, params: unknown[] = []) => {
    const conn = new Database(path)
    try {
      const statement = conn.prepare(text.replace(/\$\d+/g, '?'))
      if (statement.reader) return statement.all(...params) as T[]
      statement.run(...params)
      return []
    } finally {
      conn.close()
    }
  }
  return {
    service: { dir: dir.path, ownDir: true },
    handler: effectHandler({ events: "['checkout.session.completed']" }),
    query,
    async hasTable(name) {
      return (
        (await query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1", [name])).length > 0
      )
    },
    time: (d) => d.getTime(),
    async drop() {
      dir.remove()
    },
  }
}

async function postgresAsOfVersion(n: number): Promise<OldDatabase> {
  const schema = await freshSchema('upgrade')
  const client = new pg.Client({ connectionString: schema.url })
  try {
    await client.connect()
    // As the older hookinbox migrated it: the migrations table in the tables' own schema.
    await pgMigrate(pgDrizzle(client), {
      migrationsFolder: olderMigrations(PG_MIGRATIONS, n),
      migrationsSchema: schema.name,
    })
  } finally {
    await client.end()
  }
  return {
    service: { env: { DATABASE_URL: schema.url } },
    handler: pgEffectHandler({ events: "['checkout.session.completed']" }),
    query: (text, params) => schema.query(text, params),
    async hasTable(name) {
      const [row] = await schema.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [name])
      return Boolean(row?.t)
    },
    time: (d) => d,
    drop: () => schema.drop(),
  }
}

interface OldEvent {
  provider: 'stripe' | 'adyen'
  event: Record<string, unknown> & { id: string; type: string }
  status: 'processed' | 'ignored' | 'failed' | 'parked'
  handlers: string[]
  /** The outcome of each attempt, in order. */
  attempts: string[]
  lastError: string | null
  duplicates: number
  /** Received this long ago; past RETENTION_DAYS its payload and attempt log were pruned, as retention does. */
  ageDays?: number
}

/**
 * Events as the older hookinbox left them, in the order they arrived: one long enough ago that retention has
 * pruned its payload and attempt log (its id is kept for deduplication, DEDUP_KEEP_DAYS), the others over
 * the last hours.
 */
function oldEvents(): Record<'pruned' | 'processed' | 'ignored' | 'failed' | 'parked' | 'adyen', OldEvent> {
  const stripe = (type?: string) => stripeEvent(type ? { type } : {}) as OldEvent['event']
  return {
    pruned: {
      provider: 'stripe',
      event: stripe(),
      status: 'processed',
      handlers: ['effect'],
      attempts: ['processed'],
      lastError: null,
      duplicates: 0,
      ageDays: 100,
    },
    processed: {
      provider: 'stripe',
      event: stripe(),
      status: 'processed',
      handlers: ['effect'],
      attempts: ['processed'],
      lastError: null,
      duplicates: 2,
    },
    ignored: {
      provider: 'stripe',
      event: stripe('customer.created'),
      status: 'ignored',
      handlers: [],
      attempts: ['ignored'],
      lastError: null,
      duplicates: 0,
    },
    failed: {
      provider: 'stripe',
      event: stripe(),
      status: 'failed',
      handlers: [],
      attempts: ['failed'],
      lastError: 'handler says no',
      duplicates: 0,
    },
    parked: {
      provider: 'stripe',
      event: stripe(),
      status: 'parked',
      handlers: [],
      attempts: ['failed', 'failed', 'parked'],
      lastError: 'still broken',
      duplicates: 1,
    },
    adyen: {
      provider: 'adyen',
      event: { id: uniqueId('psp'), type: 'AUTHORISATION', pspReference: 'PSP1', success: 'true' },
      status: 'ignored',
      handlers: [],
      attempts: ['ignored'],
      lastError: null,
      duplicates: 0,
    },
  }
}

/**
 * Writes the events, their attempt logs and effects, a rejection count and a row of the user's tables, as
 * version N did.
 */
async function writeAsOlderVersion(db: OldDatabase, events: OldEvent[]): Promise<void> {
  const start = Date.now() - 6 * 3600_000
  for (const [i, e] of events.entries()) {
    const receivedAt = new Date(start - (e.ageDays ?? 0) * 86_400_000 + i * 60_000)
    const settled = e.status === 'processed' || e.status === 'ignored'
    const pruned = e.ageDays !== undefined
    const [row] = await db.query<{ seq: number | string }>(
      `INSERT INTO hookinbox_events (provider, event_id, type, status, attempts, payload, received_at, processed_at,
         occurred_at, last_error, handlers, duplicates, last_seen_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING seq`,
      [
        e.provider,
        e.event.id,
        e.event.type,
        e.status,
        e.attempts.length,
        pruned ? null : JSON.stringify(e.event),
        db.time(receivedAt),
        settled ? db.time(new Date(receivedAt.getTime() + 50)) : null,
        db.time(new Date(receivedAt.getTime() - 1000)),
        e.lastError,
        JSON.stringify(e.handlers),
        e.duplicates,
        e.duplicates > 0 ? db.time(new Date(receivedAt.getTime() + 30_000)) : null,
      ],
    )
    for (const [a, outcome] of (pruned ? [] : e.attempts).entries()) {
      await db.query(
        'INSERT INTO hookinbox_attempts (event_seq, at, outcome, duration_ms, error, "trigger") VALUES ($1, $2, $3, $4, $5, $6)',
        [
          Number(row?.seq),
          db.time(new Date(receivedAt.getTime() + a * 5000 + 50)),
          outcome,
          3,
          outcome === 'failed' || outcome === 'parked' ? e.lastError : null,
          'delivery',
        ],
      )
    }
    if (e.handlers.includes('effect')) {
      await db.query("INSERT INTO test_effects (event_id, handler) VALUES ($1, 'effect')", [e.event.id])
    }
  }
  await db.query(
    'INSERT INTO hookinbox_rejections (provider, reason, minute, count) VALUES ($1, $2, $3, $4)',
    ['stripe', 'invalid_signature', Math.floor((Date.now() - 600_000) / 60_000), 4],
  )
  // The example refunds handler of those versions wrote a row per charge.refunded, keyed by the charge, with its
  // cumulative amount refunded: two partial refunds of one charge left two rows with the same reference.
  for (const [reference, amount] of [
    ['ch_old', 300],
    ['ch_old', 800],
  ] as const) {
    await db.query(
      'INSERT INTO refunds (provider, reference, amount_minor, currency, recorded_at) VALUES ($1, $2, $3, $4, $5)',
      ['stripe', reference, amount, 'eur', db.time(new Date(start))],
    )
  }
  if (await db.hasTable('hookinbox_object_versions')) {
    await db.query(
      'INSERT INTO hookinbox_object_versions (provider, object_key, occurred_at, event_id) VALUES ($1, $2, $3, $4)',
      ['stripe', 'sub_old', db.time(new Date(start)), events[0]?.event.id],
    )
  }
  // A version with the counts table kept it in the same transactions as the events.
  if (await db.hasTable('hookinbox_status_counts')) {
    await db.query(
      'INSERT INTO hookinbox_status_counts (provider, status, shard, n) SELECT provider, status, 0, count(*) FROM hookinbox_events GROUP BY provider, status',
    )
  }
}

/** Tables with rows an older version wrote, and the order to read them in. */
const KEPT_TABLES: Record<string, string> = {
  hookinbox_events: 'seq',
  hookinbox_attempts: 'id',
  hookinbox_rejections: 'minute',
  hookinbox_object_versions: 'object_key',
  test_effects: 'id',
  refunds: 'id',
}

/** Every row of those tables (of those among `only` when given) that the database has. */
async function contents(db: OldDatabase, only?: string[]) {
  const rows: Record<string, unknown[]> = {}
  for (const [table, order] of Object.entries(KEPT_TABLES)) {
    if (only && !only.includes(table)) continue
    if (await db.hasTable(table)) rows[table] = await db.query(`SELECT * FROM ${table} ORDER BY ${order}`)
  }
  return rows
}

/** Events per provider and status: as counted in hookinbox_events, and as kept in hookinbox_status_counts. */
async function statusCounts(db: OldDatabase) {
  const byKey = (rows: Array<{ provider: string; status: string; n: number | string }>) =>
    Object.fromEntries(
      rows.filter((r) => Number(r.n) !== 0).map((r) => [`${r.provider}/${r.status}`, Number(r.n)]),
    )
  return {
    events: byKey(
      await db.query(
        'SELECT provider, status, count(*) AS n FROM hookinbox_events GROUP BY provider, status ORDER BY 1, 2',
      ),
    ),
    kept: byKey(
      await db.query(
        'SELECT provider, status, sum(n) AS n FROM hookinbox_status_counts GROUP BY provider, status ORDER BY 1, 2',
      ),
    ),
  }
}

const DIALECTS = [
  { name: 'SQLite', migrations: SQLITE_MIGRATIONS, open: sqliteAsOfVersion, available: true },
  { name: 'PostgreSQL', migrations: PG_MIGRATIONS, open: postgresAsOfVersion, available: postgresAvailable },
] as const

for (const dialect of DIALECTS) {
  const total = journalOf(dialect.migrations).entries.length
  const versions = Array.from({ length: total - 1 }, (_, i) => i + 1)

  describe.skipIf(!dialect.available)(`a ${dialect.name} database of an older hookinbox`, () => {
    it.each(versions)(
      `with the first %i of ${total} migrations: opens migrated and whole; settled events stay duplicates, a failed one replays, counts match`,
      async (n) => {
        const db = await dialect.open(n)
        const old = oldEvents()
        let svc: Awaited<ReturnType<typeof startTestService>> | undefined
        try {
          await writeAsOlderVersion(db, Object.values(old))
          const before = await contents(db)

          svc = await startTestService({ ...db.service, handlers: { 'effect.ts': db.handler } })

          // Every migration is applied now, and every row of the older version is still there as it was (with
          // any column a later migration added, as refund_id to refunds).
          const [applied] = await db.query<{ n: number | string }>(
            'SELECT count(*) AS n FROM __drizzle_migrations',
          )
          expect(
            Number(applied?.n),
            'every migration of the journal is applied at start-up (drizzle skips one whose "when" is not after the last applied)',
          ).toBe(total)
          expect(await contents(db, Object.keys(before))).toMatchObject(before)

          // The counts the admin stats and /metrics read cover the old events (counted once at start-up when
          // the older version had no counts table).
          const counts = await statusCounts(db)
          expect(counts.kept).toEqual(counts.events)
          expect(counts.events).toEqual({
            'adyen/ignored': 1,
            'stripe/failed': 1,
            'stripe/ignored': 1,
            'stripe/parked': 1,
            'stripe/processed': 2,
          })

          // The admin list shows the old events as the older version left them.
          const list = await adminGet<EventPage>(svc.url, '/admin/api/events?limit=100')
          expect(list.status).toBe(200)
          expect(list.body.events).toEqual(
            Object.values(old)
              .reverse()
              .map((e) =>
                expect.objectContaining({
                  provider: e.provider,
                  eventId: e.event.id,
                  type: e.event.type,
                  status: e.status,
                  attempts: e.attempts.length,
                  lastError: e.lastError,
                  handlers: e.handlers,
                  duplicates: e.duplicates,
                }),
              ),
          )

          // Redeliveries of settled events are duplicates: their handler does not run again.
          for (const settled of [old.pruned, old.processed, old.ignored, old.parked]) {
            expect((await postStripe(svc.url, settled.event)).body).toEqual({
              received: true,
              duplicate: true,
              status: settled.status,
            })
          }
          const effects = async (id: string) =>
            Number(
              (
                await db.query<{ n: number | string }>(
                  'SELECT count(*) AS n FROM test_effects WHERE event_id = $1',
                  [id],
                )
              )[0]?.n,
            )
          expect(await effects(old.pruned.event.id)).toBe(1)
          expect(await effects(old.processed.event.id)).toBe(1)
          expect(await effects(old.parked.event.id)).toBe(0)

          // The failed event replays: its handler runs once, and its attempt log goes on from the old one.
          const replay = await adminPost(svc.url, `/admin/api/events/stripe/${old.failed.event.id}/replay`)
          expect(replay).toMatchObject({ status: 200, body: { status: 'processed', attempts: 2 } })
          expect(await effects(old.failed.event.id)).toBe(1)
          const detail = await adminGet<EventDetail>(
            svc.url,
            `/admin/api/events/stripe/${old.failed.event.id}`,
          )
          expect(detail.body.attemptLog.map((a) => `${a.trigger}:${a.outcome}`)).toEqual([
            'delivery:failed',
            'replay:processed',
          ])

          // A new event takes the next arrival number after the old ones.
          const fresh = stripeEvent()
          expect((await postStripe(svc.url, fresh)).body).toEqual({
            received: true,
            duplicate: false,
            status: 'processed',
          })
          const seqs = await db.query<{ event_id: string; seq: number | string }>(
            'SELECT event_id, seq FROM hookinbox_events ORDER BY seq',
          )
          expect(seqs.at(-1)?.event_id).toBe(fresh.id)

          const after = await statusCounts(db)
          expect(after.kept).toEqual(after.events)
          expect(after.events).toEqual({
            'adyen/ignored': 1,
            'stripe/ignored': 1,
            'stripe/parked': 1,
            'stripe/processed': 4,
          })
          const stats = await adminGet<Stats>(svc.url, '/admin/api/stats')
          expect(stats.body).toEqual({
            events: { adyen: { ignored: 1 }, stripe: { ignored: 1, parked: 1, processed: 4 } },
            rejected: { stripe: { lastHour: 4, lastDay: 4 } },
          })
        } finally {
          await svc?.dispose()
          await db.drop()
        }
      },
    )
  })
}
