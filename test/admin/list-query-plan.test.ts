/**
 * The admin list's first page stays fast on millions of events only if the index it walks yields the rows
 * newest first and few rows are checked and skipped on the way. SQLite keeps no statistics here, so for status
 * and provider at once the list picks the smaller of the two sets from the counts kept per provider and
 * status, and the query is written so that index is the one walked. Checked on the query plan of a real
 * database (plans, unlike timings, are deterministic).
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { indexToWalk, listQuery } from '../../src/admin/event-history.ts'
import type { ListRequest } from '../../src/admin/list-filter.ts'
import { openSqlite, type SqliteDatabase } from '../../src/db/sqlite.ts'
import { tempDir } from '../support/temp-dir.ts'

describe('admin list query plans', () => {
  const dir = tempDir('plan')
  let db: SqliteDatabase
  beforeAll(() => {
    db = openSqlite({ path: join(dir.path, 'plan.db'), synchronous: 'NORMAL' })
    // The counts the service keeps (hookinbox_status_counts): few failed; most PayPal events ignored, but
    // ignored events of all providers outnumber PayPal's events.
    const count = db.writer.prepare(
      'INSERT INTO hookinbox_status_counts (provider, status, shard, n) VALUES (?, ?, 0, ?)',
    )
    for (const [provider, status, n] of [
      ['stripe', 'processed', 100_000],
      ['stripe', 'failed', 1_000],
      ['stripe', 'ignored', 500_000],
      ['paypal', 'processed', 10_000],
      ['paypal', 'ignored', 90_000],
    ] as const) {
      count.run(provider, status, n)
    }
  })
  afterAll(async () => {
    await db.close()
    dir.remove()
  })

  const plan = async (filter: Partial<ListRequest>) => {
    const request = { limit: 50, ...filter }
    const walk = await indexToWalk(db.readerDb, request)
    const { sql, params } = listQuery(db.readerDb, request, undefined, walk).toSQL()
    const rows = db.reader.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>
    return rows.map((r) => r.detail).join('; ')
  }

  it.each([
    // 1,000 failed against 601,000 Stripe events
    [{ status: 'failed', provider: 'stripe' }, 'hookinbox_events_status_seq'],
    [{ status: 'failed', provider: 'stripe', since: new Date(0) }, 'hookinbox_events_status_seq'],
    // 590,000 ignored against 100,000 PayPal events
    [{ status: 'ignored', provider: 'paypal' }, 'hookinbox_events_provider_seq'],
    // 110,000 processed against 100,000 PayPal events
    [{ status: 'processed', provider: 'paypal' }, 'hookinbox_events_provider_seq'],
    // nothing counted for either: either index finds nothing at once
    [{ status: 'parked', provider: 'adyen' }, 'hookinbox_events_status_seq'],
  ] as const)('status and provider: the smaller set is walked, newest first: %j', async (filter, index) => {
    const detail = await plan(filter)
    expect(detail).toContain(`USING INDEX ${index}`)
    expect(detail).not.toContain('TEMP B-TREE')
  })

  it.each([
    [{}, 'SCAN hookinbox_events'],
    [{ provider: 'stripe' }, 'hookinbox_events_provider_seq'],
    [{ type: 'invoice.paid' }, 'hookinbox_events_type_seq'],
    [{ status: 'processed' }, 'hookinbox_events_status_seq'],
    [{ status: 'failed' }, 'hookinbox_events_status_seq'],
  ] as const)('a single filter uses its own index, newest first: %j', async (filter, index) => {
    const detail = await plan(filter)
    expect(detail).toContain(index)
    expect(detail).not.toContain('TEMP B-TREE')
  })
})
