/**
 * A full disk in the middle of a write transaction. SQLite then rolls the whole transaction back by itself;
 * whatever ran after that on the connection would be written in autocommit, outside any transaction, durable
 * at once and never fsynced through the inbox. Nothing may: neither a handler that swallowed its own failed
 * write and went on, nor the inbox recording the event's status and attempt.
 */
import { sql } from 'drizzle-orm'
import { afterEach, describe, expect, it } from 'vitest'
import { AppError } from '../../src/errors.ts'
import { type Handler, PermanentError } from '../../src/handlers.ts'
import { TransactionLostError } from '../../src/inbox/revocable-client.ts'
import type { VerifiedEvent } from '../../src/providers/provider.ts'
import { openTestInbox } from '../support/sqlite-inbox.ts'
import { EFFECTS_TABLE_SQL } from '../support/test-service.ts'

const event = (id: string): VerifiedEvent => ({ provider: 'stripe', id, type: 'test.event', payload: { id } })

describe('a full disk during a batch', () => {
  const cleanups: Array<() => Promise<void> | void> = []
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c()
  })

  /**
   * A handler that records an effect, then tries a large optional write and swallows its failure, then
   * records a second effect: the kind of handler that must not leave half an effect.
   */
  function setup(mode: { park: boolean }) {
    const swallowed: unknown[] = []
    const handler: Handler = {
      provider: 'stripe',
      events: '*',
      handle(e, ctx) {
        if (mode.park) throw new PermanentError('parked by the test')
        ctx.tx.run(sql`INSERT INTO test_effects (event_id, handler) VALUES (${e.id}, 'before')`)
        try {
          ctx.tx.run(sql`INSERT INTO test_blobs (x) VALUES (randomblob(400000))`)
        } catch (err) {
          swallowed.push(err)
        }
        try {
          ctx.tx.run(sql`INSERT INTO test_effects (event_id, handler) VALUES (${e.id}, 'after')`)
        } catch (err) {
          swallowed.push(err)
        }
      },
    }
    const opened = openTestInbox({ handlers: [handler] })
    cleanups.push(opened.dispose)
    const { db } = opened
    db.writer.exec(EFFECTS_TABLE_SQL)
    db.writer.exec('CREATE TABLE test_blobs (x BLOB)')
    const fillDisk = () => {
      db.writer.pragma(`max_page_count = ${db.writer.pragma('page_count', { simple: true })}`)
    }
    const freeDisk = () => {
      db.writer.pragma('max_page_count = 1073741823')
    }
    const row = (id: string) =>
      db.reader.prepare('SELECT status, attempts FROM hookinbox_events WHERE event_id = ?').get(id)
    const effects = (id: string) =>
      db.reader
        .prepare('SELECT handler FROM test_effects WHERE event_id = ? ORDER BY rowid')
        .all(id)
        .map((r) => (r as { handler: string }).handler)
    return { ...opened, swallowed, fillDisk, freeDisk, row, effects }
  }

  it('a new event: refused (503), nothing of it stored, not even by a handler that swallowed the error; processed once when space is back', async () => {
    const mode = { park: false }
    const { inbox, swallowed, fillDisk, freeDisk, row, effects } = setup(mode)
    fillDisk()
    const err = await inbox.receive(event('e1'), new Date()).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AppError)
    expect(err).toMatchObject({ kind: 'storage_unavailable', status: 503 })
    // The large write failed for lack of space; the handler's next write was refused, not autocommitted.
    expect(swallowed).toHaveLength(2)
    expect((swallowed[1] as Error).cause).toBeInstanceOf(TransactionLostError)
    expect(row('e1')).toBeUndefined()
    expect(effects('e1')).toEqual([])

    freeDisk()
    swallowed.length = 0
    expect(await inbox.receive(event('e1'), new Date())).toMatchObject({
      status: 'processed',
      duplicate: false,
    })
    expect(swallowed).toEqual([])
    expect(effects('e1')).toEqual(['before', 'after'])
    expect(row('e1')).toEqual({ status: 'processed', attempts: 1 })
  })

  it('a maintenance task or a deferred write that swallowed its own failed write cannot go on writing either', async () => {
    const mode = { park: false }
    const { db, inbox, fillDisk } = setup(mode)
    const notes = () => db.reader.prepare('SELECT handler FROM test_effects ORDER BY rowid').all()
    const bigThenSmall =
      (name: string) => async (tx: Parameters<Parameters<typeof inbox.maintain>[0]>[0]) => {
        try {
          await tx.run(sql`INSERT INTO test_blobs (x) VALUES (randomblob(400000))`)
        } catch {
          // swallowed, as careless code would
        }
        await tx.run(sql`INSERT INTO test_effects (event_id, handler) VALUES ('none', ${name})`)
      }
    fillDisk()
    const task = await inbox.maintain(bigThenSmall('task')).catch((e: unknown) => e)
    expect(task).toMatchObject({ kind: 'storage_unavailable' })
    inbox.writeLater(bigThenSmall('deferred'))
    await inbox.receive(event('d1'), new Date()).catch(() => {})
    expect(notes()).toEqual([])
  })

  it('a replay of a parked event: refused, the event stays parked, and its duplicates say so', async () => {
    const mode = { park: true }
    const { inbox, fillDisk, row, effects } = setup(mode)
    expect(await inbox.receive(event('p'), new Date())).toMatchObject({ status: 'parked', attempts: 1 })
    // Kept in memory as parked (see duplicates-from-memory.test.ts).
    expect(await inbox.receive(event('p'), new Date())).toMatchObject({ status: 'parked', duplicate: true })

    mode.park = false
    fillDisk()
    const err = await inbox.replay('stripe', 'p').catch((e: unknown) => e)
    expect(err).toMatchObject({ kind: 'storage_unavailable' })
    expect(row('p')).toEqual({ status: 'parked', attempts: 1 })
    expect(effects('p')).toEqual([])
    expect(await inbox.receive(event('p'), new Date())).toMatchObject({
      status: 'parked',
      attempts: 1,
      duplicate: true,
    })
  })
})
