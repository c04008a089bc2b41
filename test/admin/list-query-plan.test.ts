/**
 * The admin list's first page stays fast on millions of events only if each filter is served by an index
 * that yields rows newest first. SQLite keeps no statistics here, so for two filters at once it may pick the
 * index of the common value (provider=stripe) and check the rare one (status=failed) row by row; with a
 * rare status the query is written so the status index is the one walked. Checked on the query plan of a
 * real database (plans, unlike timings, are deterministic).
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listQuery } from '../../src/admin/event-history.ts'
import type { ListRequest } from '../../src/admin/list-filter.ts'
import { openSqlite, type SqliteDatabase } from '../../src/db/sqlite.ts'
import { tempDir } from '../support/temp-dir.ts'

describe('admin list query plans', () => {
  const dir = tempDir('plan')
  let db: SqliteDatabase
  beforeAll(() => {
    db = openSqlite({ path: join(dir.path, 'plan.db'), synchronous: 'NORMAL' })
  })
  afterAll(async () => {
    await db.close()
    dir.remove()
  })

  const plan = (request: Partial<ListRequest>) => {
    const { sql, params } = listQuery(db.readerDb, { limit: 50, ...request }).toSQL()
    const rows = db.reader.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>
    return rows.map((r) => r.detail).join('; ')
  }

  it.each([
    [{ status: 'failed', provider: 'stripe' }],
    [{ status: 'parked', provider: 'paypal' }],
    [{ status: 'ignored', type: 'charge.refunded' }],
    [{ status: 'failed', provider: 'adyen', type: 'AUTHORISATION' }],
  ] as const)('a rare status with other filters walks the status index: %j', (filter) => {
    const detail = plan(filter)
    expect(detail).toContain('USING INDEX hookinbox_events_status_seq')
    // Newest first straight from the index: no sort of the matching rows.
    expect(detail).not.toContain('TEMP B-TREE')
  })

  it.each([
    [{}, 'SCAN hookinbox_events'],
    [{ provider: 'stripe' }, 'hookinbox_events_provider_seq'],
    [{ type: 'invoice.paid' }, 'hookinbox_events_type_seq'],
    [{ status: 'processed' }, 'hookinbox_events_status_seq'],
    [{ status: 'failed' }, 'hookinbox_events_status_seq'],
  ] as const)('a single filter uses its own index, newest first: %j', (filter, index) => {
    const detail = plan(filter)
    expect(detail).toContain(index)
    expect(detail).not.toContain('TEMP B-TREE')
  })
})
