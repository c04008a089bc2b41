/**
 * A handler's table may declare a foreign key DEFERRABLE INITIALLY DEFERRED (the README advises against it).
 * SQLite checks such a key only at COMMIT, which on SQLite holds a whole batch of events, and then rolls all
 * of it back. The batch is written again one event at a time; the event whose own COMMIT is refused is
 * recorded as a failed attempt, and parked after MAX_ATTEMPTS like any failing handler, while the others are
 * processed. Nothing is acknowledged that did not commit, and no handler's effect lands twice.
 */
import Database from 'better-sqlite3'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Handler } from '../../src/handlers.ts'
import { openTestInbox } from '../support/sqlite-inbox.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import {
  EFFECTS_TABLE_SQL,
  effectCount,
  startTestService,
  storedEvent,
  type TestService,
} from '../support/test-service.ts'

/** The most events a batch holds (sqlite-inbox.ts). */
const MAX_BATCH = 64

const HANDLER = `import { sql } from 'drizzle-orm'
export default {
  provider: 'stripe',
  events: ['test.slow', 'test.orphan', 'test.ok'],
  async handle(event, ctx) {
    ctx.tx.run(sql\`INSERT INTO test_effects (event_id, handler) VALUES (\${event.id}, 'fk')\`)
    // Holds the batch, so that the deliveries sent meanwhile are written together in the next one.
    if (event.type === 'test.slow') await new Promise((r) => setTimeout(r, 300))
    // A child without its parent: refused only when the transaction commits.
    if (event.type === 'test.orphan') ctx.tx.run(sql\`INSERT INTO child (parent_id) VALUES (999)\`)
  },
}
`

describe('a deferred foreign key broken by one handler', () => {
  let svc: TestService
  const effects = (id: string) => effectCount(svc, id)
  const row = (id: string) => storedEvent(svc, id)

  beforeAll(async () => {
    svc = await startTestService({ env: { MAX_ATTEMPTS: '2' }, handlers: { 'fk.ts': HANDLER } })
    const db = new Database(svc.dbPath)
    db.exec(`CREATE TABLE parent (id INTEGER PRIMARY KEY);
      CREATE TABLE child (id INTEGER PRIMARY KEY,
        parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)`)
    db.close()
  })
  afterAll(() => svc.dispose())

  it('fails only its own event; the others written in the same batch are processed', async () => {
    const slow = postStripe(svc.url, stripeEvent({ type: 'test.slow' }))
    await new Promise((r) => setTimeout(r, 50))
    const orphan = stripeEvent({ type: 'test.orphan' })
    const others = Array.from({ length: 5 }, () => stripeEvent({ type: 'test.ok' }))
    const [orphanAnswer, ...otherAnswers] = await Promise.all(
      [orphan, ...others].map((e) => postStripe(svc.url, e)),
    )
    expect((await slow).status).toBe(200)
    expect(svc.logs.join('')).toContain('each event of the batch is written again on its own')

    expect(otherAnswers.map((a) => a.body)).toEqual(
      others.map(() => ({ received: true, duplicate: false, status: 'processed' })),
    )
    for (const e of others) expect(effects(e.id as string)).toBe(1)

    expect(orphanAnswer?.status).toBe(500)
    expect(orphanAnswer?.body).toMatchObject({ status: 'failed' })
    expect(row(orphan.id as string)).toMatchObject({ status: 'failed', attempts: 1 })
    expect(row(orphan.id as string)?.last_error).toContain('FOREIGN KEY constraint failed')
    expect(effects(orphan.id as string)).toBe(0)
    expect(svc.query('SELECT * FROM child')).toEqual([])
  })

  it('is retried by its provider, parked after MAX_ATTEMPTS, and then a duplicate', async () => {
    const orphan = stripeEvent({ type: 'test.orphan' })
    expect((await postStripe(svc.url, orphan)).status).toBe(500)
    expect((await postStripe(svc.url, orphan)).body).toEqual({
      received: true,
      duplicate: false,
      status: 'parked',
    })
    expect(row(orphan.id as string)).toMatchObject({ status: 'parked', attempts: 2 })
    expect((await postStripe(svc.url, orphan)).body).toEqual({
      received: true,
      duplicate: true,
      status: 'parked',
    })
    expect(effects(orphan.id as string)).toBe(0)
    // Deliveries go on.
    const ok = stripeEvent({ type: 'test.ok' })
    expect((await postStripe(svc.url, ok)).status).toBe(200)
    expect(effects(ok.id as string)).toBe(1)
  })
})

describe('a deferred foreign key broken by a maintenance task, with deliveries going on', () => {
  it('refuses the task alone; every event is processed, and only its batch ran twice', async () => {
    const runs = new Map<string, number>()
    const handler: Handler = {
      provider: 'stripe',
      events: '*',
      handle(e, ctx) {
        runs.set(e.id, (runs.get(e.id) ?? 0) + 1)
        ctx.tx.run(sql`INSERT INTO test_effects (event_id, handler) VALUES (${e.id}, 'ok')`)
      },
    }
    const { db, inbox, dispose } = openTestInbox({ handlers: [handler] })
    try {
      db.writer.exec(`${EFFECTS_TABLE_SQL};
        CREATE TABLE parent (id INTEGER PRIMARY KEY);
        CREATE TABLE child (id INTEGER PRIMARY KEY,
          parent_id INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)`)
      const ids = Array.from({ length: 200 }, (_, i) => `evt_${i}`)
      const deliveries = ids.map((id) =>
        inbox.receive({ provider: 'stripe', id, type: 'test.event', payload: { id } }, new Date()),
      )
      // Queued among the deliveries: a maintenance write that breaks the key.
      const task = inbox.maintain(async (w) => w.run(sql`INSERT INTO child (parent_id) VALUES (999)`))
      await expect(task).rejects.toMatchObject({ kind: 'storage_unavailable' })
      const outcomes = await Promise.all(deliveries)
      expect(outcomes.map((o) => o.status)).toEqual(ids.map(() => 'processed'))
      // The events that shared the task's batch ran again without it (their first run was rolled back);
      // the others, once. Before, every batch after it failed the same way while deliveries went on.
      const again = [...runs.values()].filter((n) => n > 1)
      expect(again.every((n) => n === 2)).toBe(true)
      expect(again.length).toBeLessThanOrEqual(MAX_BATCH)
      expect(db.reader.prepare('SELECT count(*) AS n FROM test_effects').get()).toEqual({ n: 200 })
      expect(db.reader.prepare('SELECT count(*) AS n FROM child').get()).toEqual({ n: 0 })
    } finally {
      await inbox.close()
      await dispose()
    }
  })
})
