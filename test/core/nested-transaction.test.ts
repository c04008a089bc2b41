/**
 * A handler may group some of its writes with `ctx.tx.transaction(…)`: inside the event's transaction that is
 * a savepoint, so a failure inside it undoes only that group, and the rest of the handler's writes stay.
 */
import { sql } from 'drizzle-orm'
import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core'
import { afterEach, describe, expect, it } from 'vitest'
import type { Handler } from '../../src/handlers.ts'
import { controlsTransaction } from '../../src/inbox/revocable-client.ts'
import type { VerifiedEvent } from '../../src/providers/provider.ts'
import { openTestInbox } from '../support/sqlite-inbox.ts'
import { EFFECTS_TABLE_SQL } from '../support/test-service.ts'

const testEffects = sqliteTable('test_effects', {
  id: integer('id').primaryKey(),
  eventId: text('event_id').notNull(),
  handler: text('handler').notNull(),
})

const event = (id: string): VerifiedEvent => ({ provider: 'stripe', id, type: 'test.event', payload: { id } })

describe('a nested transaction in a handler', () => {
  const cleanups: Array<() => Promise<void> | void> = []
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c()
  })

  it('is a savepoint: a failure inside it undoes only its own writes', async () => {
    const caught: unknown[] = []
    const handler: Handler = {
      provider: 'stripe',
      events: '*',
      handle(e, ctx) {
        const effect = (name: string) =>
          sql`INSERT INTO test_effects (event_id, handler) VALUES (${e.id}, ${name})`
        ctx.tx.run(effect('outer'))
        try {
          ctx.tx.transaction((tx) => {
            tx.run(effect('undone'))
            throw new Error('this group fails')
          })
        } catch (err) {
          caught.push(err)
        }
        ctx.tx.transaction((tx) => {
          tx.run(effect('kept'))
        })
      },
    }
    const { db, inbox, dispose } = openTestInbox({ handlers: [handler] })
    cleanups.push(dispose)
    db.writer.exec(EFFECTS_TABLE_SQL)

    expect(await inbox.receive(event('n1'), new Date())).toMatchObject({ status: 'processed' })
    expect(caught.map((e) => (e as Error).message)).toEqual(['this group fails'])
    const effects = db.reader
      .prepare("SELECT handler FROM test_effects WHERE event_id = 'n1' ORDER BY rowid")
      .all()
    expect(effects).toEqual([{ handler: 'outer' }, { handler: 'kept' }])
  })

  it('may nest further (Drizzle savepoints of its own), and a value holding "; commit" is only a value', async () => {
    const handler: Handler = {
      provider: 'stripe',
      events: '*',
      handle(e, ctx) {
        ctx.tx.transaction((outer) => {
          outer.transaction((inner) => {
            inner.run(sql`INSERT INTO test_effects (event_id, handler) VALUES (${e.id}, 'done; commit')`)
          })
        })
        ctx.tx.run(sql.raw(`INSERT INTO test_effects (event_id, handler) VALUES ('${e.id}', 'x; ROLLBACK')`))
      },
    }
    const { db, inbox, dispose } = openTestInbox({ handlers: [handler] })
    cleanups.push(dispose)
    db.writer.exec(EFFECTS_TABLE_SQL)
    expect(await inbox.receive(event('n2'), new Date())).toMatchObject({ status: 'processed' })
    expect(db.reader.prepare("SELECT count(*) AS n FROM test_effects WHERE event_id = 'n2'").get()).toEqual({
      n: 2,
    })
  })

  it('refuses an async callback with a message that says so, and the process survives what it goes on doing', async () => {
    // Drizzle's own examples write `transaction(async (tx) => { await … })`; on SQLite better-sqlite3 ends the
    // savepoint as soon as the callback returns its promise, and the callback's later statements used to
    // reject with nobody listening: an unhandled rejection, which stops the whole service.
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown) => unhandled.push(reason)
    process.on('unhandledRejection', onUnhandled)
    cleanups.push(() => {
      process.off('unhandledRejection', onUnhandled)
    })
    const caught: string[] = []
    const handler: Handler = {
      provider: 'stripe',
      events: '*',
      async handle(e, ctx) {
        const effect = (name: string) =>
          sql`INSERT INTO test_effects (event_id, handler) VALUES (${e.id}, ${name})`
        const group = async (tx: typeof ctx.tx) => {
          await tx.run(effect('first'))
          await new Promise((r) => setTimeout(r, 20))
          await tx.run(effect('second'))
        }
        if (e.id === 'a3') {
          // A query returned instead of run is a thenable too: refused the same way.
          ctx.tx.transaction((tx) => tx.insert(testEffects).values({ eventId: e.id, handler: 'returned' }))
          return
        }
        if (e.id === 'a2') {
          // Caught and ignored: the event fails all the same.
          try {
            await ctx.tx.transaction(group)
          } catch (err) {
            caught.push((err as Error).message)
          }
          return
        }
        await ctx.tx.transaction(group)
      },
    }
    const { db, inbox, dispose } = openTestInbox({ handlers: [handler] })
    cleanups.push(dispose)
    db.writer.exec(EFFECTS_TABLE_SQL)

    for (const id of ['a1', 'a2', 'a3']) {
      const outcome = await inbox.receive(event(id), new Date())
      expect(outcome).toMatchObject({ status: 'failed' })
      expect(outcome.error).toMatch(/ctx\.tx\.transaction\(\) needs a synchronous callback on SQLite/)
    }
    expect(caught).toHaveLength(1)
    await new Promise((r) => setTimeout(r, 100))
    expect(unhandled).toEqual([])
    expect(db.reader.prepare('SELECT count(*) AS n FROM test_effects').get()).toEqual({ n: 0 })
  })
})

describe('transaction control from a handler', () => {
  const cleanups: Array<() => Promise<void> | void> = []
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c()
  })

  const ending = [
    'COMMIT',
    'commit transaction',
    ' /* done */ END',
    'ROLLBACK',
    'BEGIN',
    'RELEASE hookinbox_event',
    'ROLLBACK TO hookinbox_event',
    'SAVEPOINT "hookinbox_event"',
    // An apostrophe in a comment or in a quoted name opens no string that could hide what follows.
    "-- don't\nCOMMIT; SELECT 'x'",
    `SELECT 1 AS "a'"; COMMIT; SELECT 1 AS "'"`,
    "SELECT 1 AS [it's]; COMMIT; SELECT '/*'",
  ]
  it.each(ending)(
    '%j is refused: the event fails, its writes roll back, nothing commits without it',
    async (statement) => {
      const handler: Handler = {
        provider: 'stripe',
        events: '*',
        handle(e, ctx) {
          ctx.tx.run(sql`INSERT INTO test_effects (event_id, handler) VALUES (${e.id}, 'before')`)
          ctx.tx.run(sql.raw(statement))
        },
      }
      const { db, inbox, dispose } = openTestInbox({ handlers: [handler] })
      cleanups.push(dispose)
      db.writer.exec(EFFECTS_TABLE_SQL)
      const outcome = await inbox.receive(event('c1'), new Date())
      expect(outcome).toMatchObject({ status: 'failed' })
      expect(outcome.error).toContain("ctx.tx is the event's transaction")
      expect(db.reader.prepare('SELECT count(*) AS n FROM test_effects').get()).toEqual({ n: 0 })
      expect(db.reader.prepare("SELECT status FROM hookinbox_events WHERE event_id = 'c1'").get()).toEqual({
        status: 'failed',
      })
      // Through the driver directly, too.
      const raw: Handler = {
        provider: 'stripe',
        events: '*',
        handle(_e, ctx) {
          ;(ctx.tx as unknown as { $client: { exec(sql: string): void } }).$client.exec(
            `SELECT 1; ${statement}`,
          )
        },
      }
      const second = openTestInbox({ handlers: [raw] })
      cleanups.push(second.dispose)
      expect(await second.inbox.receive(event('c2'), new Date())).toMatchObject({ status: 'failed' })
    },
  )
})

describe('the transaction-control check on PostgreSQL, where `…` and […] quote nothing', () => {
  const ends = [
    "SELECT j['a]'], 'b'; COMMIT; SELECT 'c'",
    // In an E'…' string a backslash escapes the quote: the string ends at the second quote.
    `SELECT E'\\'"'; COMMIT; --"`,
    '/* a */ COMMIT',
  ]
  it.each(ends)('%j ends the transaction', (text) => {
    expect(controlsTransaction(text, 'postgres')).toBe(true)
  })
  const doesNot = [
    "SELECT a[1], data['k'], data->>'end' FROM t WHERE tags ? 'commit'",
    "INSERT INTO notes VALUES ('x; COMMIT')",
    'SELECT 1 AS "end; commit"',
    // A backtick is no quote in PostgreSQL: the COMMIT is inside a string.
    "SELECT `x'`; COMMIT; SELECT '`'",
    "SELECT E'it\\'s; COMMIT', date'2026-11-28'",
  ]
  it.each(doesNot)('%j does not', (text) => {
    expect(controlsTransaction(text, 'postgres')).toBe(false)
  })
})
