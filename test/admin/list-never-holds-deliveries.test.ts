/**
 * A broad search (`q=evt_`) or a wide time window made SQLite sort every match: 2 s on 10 million events,
 * with deliveries held all that time while the admin's queries ran on the event loop. They run on a thread
 * of their own now (admin-reads-on-their-own-thread.test.ts), where one long query still holds the admin's
 * other requests. So the list counts the matches of the filter's index first (up to `few`), sorts them only
 * when they are few, and otherwise walks the arrival order in windows of `chunk` sequence numbers, letting
 * other work go between windows. The limits are made small here so that 3,000 events show every plan;
 * each plan must list exactly what a plain filter of all events lists, page after page.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEventHistory, listQuery, replayableQuery } from '../../src/admin/event-history.ts'
import type { EventFilter } from '../../src/admin/list-filter.ts'
import { chooseIndex } from '../../src/admin/sqlite-list.ts'
import { openSqlite, type SqliteDatabase } from '../../src/db/sqlite.ts'
import { sqliteTables } from '../../src/db/tables.ts'
import { tempDir } from '../support/temp-dir.ts'

const EVENTS = 3_000
const LIMITS = { few: 40, chunk: 97 }
const T0 = Date.parse('2026-01-01T00:00:00Z')
const MINUTE = 60_000

interface Row {
  seq: number
  provider: string
  eventId: string
  type: string
  status: string
  receivedAt: number
}

describe('the admin list on SQLite never holds the event loop for a whole search', () => {
  const dir = tempDir('bounded-list')
  let db: SqliteDatabase
  const all: Row[] = []

  beforeAll(() => {
    db = openSqlite({ path: join(dir.path, 'list.db'), synchronous: 'NORMAL' })
    const insert = db.writer.prepare(
      `INSERT INTO hookinbox_events (provider, event_id, type, status, attempts, payload, received_at)
       VALUES (?, ?, ?, ?, 1, '{}', ?)`,
    )
    const types = ['charge.succeeded', 'charge.refunded', 'invoice.paid', 'AUTHORISATION']
    const statuses = ['processed', 'ignored', 'failed', 'parked']
    db.writer.transaction(() => {
      for (let i = 0; i < EVENTS; i++) {
        const provider = i % 5 === 0 ? 'adyen' : 'stripe'
        // A few ids start with `evt_rare`; the clock steps back once, at 2,000, as a host's clock can.
        const eventId = i % 97 === 0 ? `evt_rare_${i}` : `evt_${i.toString(16).padStart(6, '0')}`
        const receivedAt = T0 + (i < 2_000 ? i : i - 1_500) * MINUTE
        const row = {
          provider,
          eventId,
          type: types[i % types.length] as string,
          status: statuses[(i * 7) % statuses.length] as string,
          receivedAt,
        }
        const { lastInsertRowid } = insert.run(
          row.provider,
          row.eventId,
          row.type,
          row.status,
          row.receivedAt,
        )
        all.push({ seq: Number(lastInsertRowid), ...row })
      }
    })()
  })
  afterAll(async () => {
    await db.close()
    dir.remove()
  })

  const expected = (f: EventFilter) =>
    all
      .filter(
        (r) =>
          (!f.provider || r.provider === f.provider) &&
          (!f.type || r.type === f.type) &&
          (!f.status || r.status === f.status) &&
          (!f.since || r.receivedAt >= f.since.getTime()) &&
          (!f.until || r.receivedAt < f.until.getTime()) &&
          (!f.q || r.eventId.startsWith(f.q) || r.type.startsWith(f.q)),
      )
      .sort((a, b) => b.seq - a.seq)
      .map((r) => r.eventId)

  const at = (minutes: number) => new Date(T0 + minutes * MINUTE)
  const FILTERS: Array<[string, EventFilter, 'q' | 'time' | 'seq' | undefined]> = [
    ['no filter', {}, undefined],
    ['a broad id prefix', { q: 'evt_' }, 'seq'],
    ['a rare id prefix', { q: 'evt_rare' }, 'q'],
    ['a type prefix', { q: 'charge' }, 'seq'],
    ['an id prefix matching nothing', { q: 'nope' }, 'q'],
    ['a broad prefix and a status', { q: 'evt_', status: 'failed' }, 'seq'],
    ['a wide time window', { since: at(100), until: at(1_900) }, 'seq'],
    ['a narrow time window, across the clock step', { since: at(480), until: at(510) }, 'time'],
    ['only an old bound', { until: at(60) }, 'seq'],
    ['a time window in the future', { since: at(100_000) }, 'time'],
    ['a broad prefix in a narrow window', { q: 'evt_', since: at(700), until: at(720) }, 'time'],
    ['a rare prefix and a provider', { q: 'evt_rare', provider: 'adyen' }, 'q'],
    ['a type prefix, a provider and a status', { q: 'inv', provider: 'stripe', status: 'processed' }, 'seq'],
    ['a NUL in the prefix', { q: 'evt_\u0000' }, undefined],
    ['a type and a provider', { type: 'invoice.paid', provider: 'adyen' }, 'seq'],
    [
      'a type, a provider and a status matching nothing',
      { type: 'AUTHORISATION', provider: 'adyen', status: 'parked' },
      'seq',
    ],
    ['a type alone', { type: 'invoice.paid' }, undefined],
  ]

  it.each(FILTERS)('%s: the plan is bounded (%j → %s)', async (_name, filter, plan) => {
    expect(await chooseIndex(db.readerDb, { ...filter, limit: 20 }, sqliteTables, LIMITS.few)).toBe(plan)
  })

  it.each(FILTERS)(
    '%s: every page lists exactly the matching events, newest first',
    async (_name, filter) => {
      const history = createEventHistory(db.readerDb, sqliteTables, LIMITS)
      const listed: string[] = []
      let cursor: string | null = null
      for (let pages = 0; pages < 1_000; pages++) {
        const before: number | undefined = cursor
          ? Number(Buffer.from(cursor, 'base64url').toString().slice(3))
          : undefined
        const page = await history.list({ ...filter, limit: 23, ...(before ? { before } : {}) })
        listed.push(...page.events.map((e) => e.eventId))
        cursor = page.nextCursor
        if (!cursor) break
      }
      expect(listed).toEqual(filter.q?.includes('\u0000') ? [] : expected(filter))
    },
  )

  it('uses only the chosen index: the filter’s own, sorted, or the arrival order within a window', () => {
    const plan = (filter: EventFilter, only: 'q' | 'time' | 'seq') => {
      const query = listQuery(db.readerDb, { ...filter, limit: 20, before: 2_000 }, sqliteTables, undefined, {
        only,
        ...(only === 'seq' ? { from: 100 } : {}),
      })
      const { sql, params } = query.toSQL()
      const rows = db.reader.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>
      return rows.map((r) => r.detail).join('; ')
    }
    const withStatus = { q: 'evt_', status: 'failed' as const, since: at(1), until: at(2) }
    expect(plan(withStatus, 'q')).toMatch(/MULTI-INDEX OR.*event_id_provider.*type_seq/)
    expect(plan(withStatus, 'q')).not.toMatch(/received_at|status_seq|PRIMARY KEY/)
    expect(plan(withStatus, 'time')).toContain('USING INDEX hookinbox_events_received_at')
    expect(plan(withStatus, 'time')).not.toMatch(/event_id_provider|type_seq|status_seq|PRIMARY KEY/)
    expect(plan({ q: 'evt_', since: at(1) }, 'seq')).toContain(
      'USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)',
    )
    // A later page (a cursor) of a list since a time: SQLite preferred the cursor's seq range to the time
    // index, and sorted every event older than the cursor.
    expect(plan({ since: at(1) }, 'time')).toContain('USING INDEX hookinbox_events_received_at')
    expect(plan({ since: at(1) }, 'time')).not.toContain('PRIMARY KEY')
  })

  it.each([
    [{ provider: 'stripe' }],
    [{ type: 'invoice.paid' }],
    [{ q: 'evt_', since: at(1) }],
    [{ provider: 'adyen', status: 'parked' }],
  ] as const)('the bulk replay walks the status index of the failed and parked: %j', (filter) => {
    const statuses = 'status' in filter ? [filter.status] : (['failed', 'parked'] as const)
    for (const status of statuses) {
      const { sql, params } = replayableQuery(db.readerDb, { ...filter, status }, 0, 200).toSQL()
      const rows = db.reader.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>
      const detail = rows.map((r) => r.detail).join('; ')
      expect(detail).toContain('USING INDEX hookinbox_events_status_seq')
      expect(detail).not.toContain('TEMP B-TREE')
    }
  })

  it.each([
    [{}],
    [{ provider: 'adyen' }],
    [{ type: 'charge.refunded', q: 'evt_' }],
    [{ status: 'failed' }],
  ] as const)(
    'the bulk replay lists the failed and parked events matching %j, oldest first',
    async (filter) => {
      const history = createEventHistory(db.readerDb, sqliteTables, LIMITS)
      const listed: number[] = []
      for (let after = 0; ; ) {
        const page = await history.replayable(filter, after, 37)
        listed.push(...page.map((e) => e.seq))
        const last = page[page.length - 1]
        if (!last) break
        after = last.seq
      }
      const statuses: string[] = 'status' in filter ? [filter.status] : ['failed', 'parked']
      const want = new Set(expected(filter))
      expect(listed).toEqual(
        all
          .filter((r) => statuses.includes(r.status) && want.has(r.eventId))
          .map((r) => r.seq)
          .sort((a, b) => a - b),
      )
    },
  )

  it('lets the event loop turn between the windows of a long walk', async () => {
    const history = createEventHistory(db.readerDb, sqliteTables, LIMITS)
    let turns = 0
    let listing = true
    const turn = () => {
      turns++
      if (listing) setImmediate(turn)
    }
    setImmediate(turn)
    // The oldest hour: more events than `few`, found only after walking down nearly all 3,000, 97 at a time.
    const page = await history.list({ until: at(60), limit: 20 })
    listing = false
    expect(page.events.map((e) => e.eventId)).toEqual(expected({ until: at(60) }).slice(0, 20))
    expect(turns).toBeGreaterThan(20)
  })

  it('stops walking once its client is gone, leaving the read thread to other requests', async () => {
    const history = createEventHistory(db.readerDb, sqliteTables, LIMITS)
    const client = new AbortController()
    let turns = 0
    const turn = () => {
      turns++
      // A few windows in, the operator closes the tab.
      if (turns === 5) client.abort()
      else setImmediate(turn)
    }
    setImmediate(turn)
    await expect(history.list({ until: at(60), limit: 20 }, client.signal)).rejects.toMatchObject({
      kind: 'client_aborted',
      status: 400,
    })
  })
})
