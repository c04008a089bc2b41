import { sql } from 'drizzle-orm'
import { afterEach, describe, expect, it } from 'vitest'
import type { SqliteDatabase } from '../../src/db/sqlite.ts'
import type { Handler } from '../../src/handlers.ts'
import type { VerifiedEvent } from '../../src/providers/provider.ts'
import { openTestInbox } from '../support/sqlite-inbox.ts'
import { EFFECTS_TABLE_SQL } from '../support/test-service.ts'

const event = (id: string, type: string): VerifiedEvent => ({
  provider: 'stripe',
  id,
  type,
  payload: { id, type },
})

/** The status counts the admin stats and /metrics read (hookinbox_status_counts). */
function countsTable(db: SqliteDatabase): Record<string, number> {
  const rows = db.reader
    .prepare('SELECT status, sum(n) AS n FROM hookinbox_status_counts GROUP BY status ORDER BY status')
    .all() as Array<{ status: string; n: number }>
  return Object.fromEntries(rows.map((r) => [r.status, r.n]))
}

/** The same, counted from the events themselves. */
function countRows(db: SqliteDatabase): Record<string, number> {
  const rows = db.reader
    .prepare('SELECT status, count(*) AS n FROM hookinbox_events GROUP BY status ORDER BY status')
    .all() as Array<{ status: string; n: number }>
  return Object.fromEntries(rows.map((r) => [r.status, r.n]))
}

describe('group commit', () => {
  const cleanups: Array<() => Promise<void> | void> = []
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c()
  })

  function setup(handlers: Handler[]) {
    const batches: number[] = []
    const { db, inbox, dispose } = openTestInbox({ handlers, onBatch: (n) => batches.push(n) })
    db.writer.exec(EFFECTS_TABLE_SQL)
    cleanups.push(dispose)
    return { db, inbox, batches }
  }

  it('a batch containing one failing handler commits every other event of the batch and fails only that one', async () => {
    let open: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      open = resolve
    })
    const { db, inbox, batches } = setup([
      {
        provider: 'stripe',
        events: '*',
        async handle(e, ctx) {
          ctx.tx.run(sql`INSERT INTO test_effects (event_id, handler) VALUES (${e.id}, 'effect')`)
          if (e.type === 'hold') await gate
          if (e.type === 'fail') throw new Error('this one fails')
        },
      },
    ])
    // Six deliveries arriving together are written as one batch (the first holds it open for a moment).
    const first = inbox.receive(event('e0', 'hold'), new Date())
    const rest = ['ok', 'ok', 'fail', 'ok', 'ok'].map((type, i) =>
      inbox.receive(event(`e${i + 1}`, type), new Date()),
    )
    open()
    const outcomes = await Promise.all([first, ...rest])
    expect(batches).toEqual([6])
    expect(outcomes.map((o) => o.status)).toEqual([
      'processed',
      'processed',
      'processed',
      'failed',
      'processed',
      'processed',
    ])
    const effects = db.reader.prepare('SELECT event_id FROM test_effects ORDER BY event_id').all() as Array<{
      event_id: string
    }>
    expect(effects.map((r) => r.event_id)).toEqual(['e0', 'e1', 'e2', 'e4', 'e5'])
    const failed = db.reader
      .prepare("SELECT event_id, attempts FROM hookinbox_events WHERE status = 'failed'")
      .all()
    expect(failed).toEqual([{ event_id: 'e3', attempts: 1 }])
    expect(countsTable(db)).toEqual(countRows(db))
    expect(countRows(db)).toEqual({ failed: 1, processed: 5 })
    const attemptRows = db.reader.prepare('SELECT count(*) AS n FROM hookinbox_attempts').get()
    expect(attemptRows).toEqual({ n: 6 })
  })

  it('the status counts, summed per batch, stay equal to a count of the rows through failures and retries', async () => {
    let failing = true
    const { db, inbox, batches } = setup([
      {
        provider: 'stripe',
        events: ['flaky'],
        async handle() {
          if (failing) throw new Error('not yet')
        },
      },
    ])
    const types = ['flaky', 'other', 'flaky', 'other', 'flaky']
    await Promise.all(types.map((type, i) => inbox.receive(event(`c${i}`, type), new Date())))
    expect(countsTable(db)).toEqual({ failed: 3, ignored: 2 })
    // The retries move three events from failed to processed in one batch; a repeat of a settled one counts
    // nothing.
    failing = false
    await Promise.all(types.map((type, i) => inbox.receive(event(`c${i}`, type), new Date())))
    expect(countsTable(db)).toEqual({ failed: 0, ignored: 2, processed: 3 })
    expect(countRows(db)).toEqual({ ignored: 2, processed: 3 })
    expect(batches).toEqual([5, 3])
  })

  it('copies of an event arriving while it is being written share its outcome: a failing handler runs once', async () => {
    let runs = 0
    let failing = true
    const { db, inbox } = setup([
      {
        provider: 'stripe',
        events: '*',
        handle() {
          runs++
          if (failing) throw new Error('downstream briefly unavailable')
        },
      },
    ])
    const burst = () =>
      Promise.all(Array.from({ length: 6 }, () => inbox.receive(event('burst', 't'), new Date())))
    const outcomes = await burst()
    // One attempt, answered to every copy (500, so the provider retries later), and not parked.
    expect(runs).toBe(1)
    expect(outcomes.map((o) => o.status)).toEqual(Array(6).fill('failed'))
    expect(outcomes.filter((o) => !o.duplicate)).toHaveLength(1)
    const row = () =>
      db.reader.prepare("SELECT status, attempts FROM hookinbox_events WHERE event_id = 'burst'").get()
    expect(row()).toEqual({ status: 'failed', attempts: 1 })
    // A later delivery, after the answer, is a retry: it runs the handler again.
    failing = false
    expect((await burst()).map((o) => o.status)).toEqual(Array(6).fill('processed'))
    expect(runs).toBe(2)
    expect(row()).toEqual({ status: 'processed', attempts: 2 })
  })

  it('a lone delivery is written at once, without waiting for company', async () => {
    const { inbox, batches } = setup([])
    const outcome = await inbox.receive(event('solo', 'x'), new Date())
    expect(outcome).toMatchObject({ status: 'ignored', duplicate: false })
    expect(batches).toEqual([1])
  })

  it('a duplicate of an event settled in the open, uncommitted batch waits for that batch to commit', async () => {
    let open: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      open = resolve
    })
    const { inbox, batches } = setup([
      {
        provider: 'stripe',
        events: ['hold'],
        async handle() {
          await gate
        },
      },
    ])
    // One batch: 'settled' is written (ignored: no handler for its type), then 'held' keeps it open.
    const settled = inbox.receive(event('settled', 'x'), new Date())
    const held = inbox.receive(event('held', 'hold'), new Date())
    await new Promise((resolve) => setTimeout(resolve, 20))
    // The writer's connection already holds 'settled' as ignored, uncommitted: the look-up must not see it.
    let answered = false
    const duplicate = inbox.receive(event('settled', 'x'), new Date()).then((o) => {
      answered = true
      return o
    })
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(answered).toBe(false)
    open()
    expect(await settled).toMatchObject({ status: 'ignored', duplicate: false })
    expect(await held).toMatchObject({ status: 'processed' })
    expect(await duplicate).toMatchObject({ status: 'ignored', duplicate: true })
    // Not seen by the look-up, it is a copy of a delivery still in flight: it shares that one's outcome,
    // without a batch of its own.
    expect(batches).toEqual([2])
  })

  it('duplicates of settled events are answered by a read, without a write batch', async () => {
    const { inbox, batches } = setup([])
    await inbox.receive(event('once', 'x'), new Date())
    const again = await inbox.receive(event('once', 'x'), new Date())
    expect(again).toMatchObject({ status: 'ignored', duplicate: true })
    expect(batches).toEqual([1])
  })

  it('sightings of many distinct duplicates, written a bounded number per transaction, are all counted', async () => {
    const { db, inbox } = setup([])
    const ids = Array.from({ length: 700 }, (_, i) => `seen-${i}`)
    await Promise.all(ids.map((id) => inbox.receive(event(id, 'x'), new Date())))
    // Every event sighted once more, the first 300 twice more: more distinct events than one transaction takes.
    const again = [...ids, ...ids.slice(0, 300)]
    const answers = await Promise.all(again.map((id) => inbox.receive(event(id, 'x'), new Date())))
    expect(answers.every((a) => a.duplicate)).toBe(true)
    const sum = () =>
      db.reader
        .prepare('SELECT sum(duplicates) AS d, count(last_seen_at) AS seen FROM hookinbox_events')
        .get() as {
        d: number
        seen: number
      }
    // Folded into later write transactions (within ~200 ms of the sighting).
    const until = Date.now() + 10_000
    while (sum().d < again.length && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    expect(sum()).toEqual({ d: 1000, seen: 700 })
    const byCount = db.reader
      .prepare('SELECT duplicates AS d, count(*) AS n FROM hookinbox_events GROUP BY duplicates ORDER BY d')
      .all()
    expect(byCount).toEqual([
      { d: 1, n: 400 },
      { d: 2, n: 300 },
    ])
  })
})
