/**
 * Duplicates of settled events are answered from memory once one was read from SQLite, and that memory never
 * outlives a change to those events (a replay, retention) or the durability it was kept under.
 */
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import type { FsyncFn } from '../../src/db/wal-sync.ts'
import { type Handler, PermanentError } from '../../src/handlers.ts'
import type { VerifiedEvent } from '../../src/providers/provider.ts'
import { openTestInbox, type TestInboxOptions } from '../support/sqlite-inbox.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { startTestService } from '../support/test-service.ts'

const event = (id: string): VerifiedEvent => ({ provider: 'stripe', id, type: 'test.event', payload: { id } })
const tick = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms))

describe('duplicates answered from memory', () => {
  const cleanups: Array<() => Promise<void> | void> = []
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c()
  })

  function setup(options: TestInboxOptions = {}) {
    const opened = openTestInbox(options)
    cleanups.push(opened.dispose)
    return opened
  }

  /** Parks the events listed in `parking` (PermanentError), processes the rest. */
  function parkingHandler(parking: Set<string>): Handler {
    return {
      provider: 'stripe',
      events: '*',
      handle(e) {
        if (parking.has(e.id)) throw new PermanentError('parked by the test')
      },
    }
  }

  /** Deletes events' rows from another connection: a change the service cannot know of. */
  function deleteBehindItsBack(path: string, ...ids: string[]) {
    const other = new Database(path)
    try {
      for (const id of ids) other.prepare('DELETE FROM hookinbox_events WHERE event_id = ?').run(id)
    } finally {
      other.close()
    }
  }

  it('answers further duplicates of a settled event without reading SQLite', async () => {
    const { inbox, path } = setup()
    expect(await inbox.receive(event('a'), new Date())).toMatchObject({ status: 'ignored', duplicate: false })
    // The first duplicate is read from SQLite, and kept.
    expect(await inbox.receive(event('a'), new Date())).toMatchObject({ status: 'ignored', duplicate: true })

    deleteBehindItsBack(path, 'a')
    expect(await inbox.receive(event('a'), new Date())).toMatchObject({ status: 'ignored', duplicate: true })
    // Anything else is looked up in SQLite as before.
    expect(await inbox.receive(event('b'), new Date())).toMatchObject({ status: 'ignored', duplicate: false })
  })

  it('with the cache turned off (size 0) every duplicate reads SQLite', async () => {
    const { inbox, path } = setup({ settledCacheSize: 0 })
    await inbox.receive(event('a'), new Date())
    expect(await inbox.receive(event('a'), new Date())).toMatchObject({ duplicate: true })
    deleteBehindItsBack(path, 'a')
    expect(await inbox.receive(event('a'), new Date())).toMatchObject({ duplicate: false })
  })

  it('keeps at most settledCacheSize events, dropping the oldest first', async () => {
    const { inbox, path } = setup({ settledCacheSize: 2 })
    for (const id of ['a', 'b', 'c']) await inbox.receive(event(id), new Date())
    for (const id of ['a', 'b', 'c']) {
      expect(await inbox.receive(event(id), new Date())).toMatchObject({ duplicate: true })
    }
    deleteBehindItsBack(path, 'a', 'b', 'c')
    expect(await inbox.receive(event('c'), new Date())).toMatchObject({ duplicate: true })
    expect(await inbox.receive(event('b'), new Date())).toMatchObject({ duplicate: true })
    expect(await inbox.receive(event('a'), new Date())).toMatchObject({ duplicate: false })
  })

  it('counts every duplicate answered from memory as a sighting', async () => {
    const { db, inbox } = setup()
    await inbox.receive(event('a'), new Date())
    for (let i = 0; i < 3; i++) await inbox.receive(event('a'), new Date())
    await inbox.close()
    expect(db.writer.prepare("SELECT duplicates FROM hookinbox_events WHERE event_id = 'a'").get()).toEqual({
      duplicates: 3,
    })
  })

  it('forgets settled events once a replay commits: a parked event replayed is then a duplicate "processed"', async () => {
    const parking = new Set(['p'])
    const { inbox } = setup({ handlers: [parkingHandler(parking)] })
    expect(await inbox.receive(event('p'), new Date())).toMatchObject({ status: 'parked', duplicate: false })
    expect(await inbox.receive(event('p'), new Date())).toMatchObject({ status: 'parked', duplicate: true })

    parking.delete('p')
    expect(await inbox.replay('stripe', 'p')).toMatchObject({ status: 'processed' })
    expect(await inbox.receive(event('p'), new Date())).toMatchObject({
      status: 'processed',
      duplicate: true,
    })
  })

  it('does not keep a status read just before a replay committed', async () => {
    // An fsync that waits while `hold` is set, so a duplicate's answer (and its keeping) can be held back.
    let hold = false
    const held: Array<() => void> = []
    const fsync: FsyncFn = () =>
      hold ? new Promise<void>((resolve) => held.push(resolve)) : Promise.resolve()
    const parking = new Set(['p'])
    const { db, inbox } = setup({ handlers: [parkingHandler(parking)], sqlite: { fsync } })
    expect(await inbox.receive(event('p'), new Date())).toMatchObject({ status: 'parked' })

    hold = true
    // A new event's commit waits for its sync; the duplicate read after it waits for that sync too.
    const other = inbox.receive(event('x'), new Date())
    await tick()
    const duplicate = inbox.receive(event('p'), new Date())
    await tick()
    // Meanwhile the parked event is replayed, and its new status committed.
    parking.delete('p')
    const replayed = inbox.replay('stripe', 'p')
    for (let i = 0; i < 100; i++) {
      const row = db.reader.prepare("SELECT status FROM hookinbox_events WHERE event_id = 'p'").get()
      if ((row as { status: string }).status === 'processed') break
      await tick(5)
    }

    hold = false
    for (const release of held.splice(0)) release()
    // The duplicate says what it read; what it read is not kept past the replay's commit.
    expect(await duplicate).toMatchObject({ status: 'parked', duplicate: true })
    expect(await replayed).toMatchObject({ status: 'processed' })
    expect(await other).toMatchObject({ status: 'processed' })
    expect(await inbox.receive(event('p'), new Date())).toMatchObject({
      status: 'processed',
      duplicate: true,
    })
  })

  for (const [setting, afterDeletion] of [
    [undefined, true],
    ['0', false],
  ] as const) {
    it(`SQLITE_DUPLICATE_CACHE=${setting ?? '(default)'}: a duplicate after its row was deleted behind the service's back is ${afterDeletion ? 'still a duplicate' : 'new again'}`, async () => {
      const svc = await startTestService(
        setting === undefined ? {} : { env: { SQLITE_DUPLICATE_CACHE: setting } },
      )
      cleanups.push(() => svc.dispose())
      const e = stripeEvent()
      expect((await postStripe(svc.url, e)).body).toMatchObject({ duplicate: false })
      expect((await postStripe(svc.url, e)).body).toMatchObject({ duplicate: true })
      deleteBehindItsBack(svc.dbPath, e.id as string)
      expect((await postStripe(svc.url, e)).body).toMatchObject({ duplicate: afterDeletion })
    })
  }
})
