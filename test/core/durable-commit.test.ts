/**
 * Durability off the event loop: the WAL fsync runs on the thread pool and checkpoints on a worker thread,
 * and still nothing is acknowledged before the commit that holds it is on disk.
 */
import { existsSync, mkdirSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import Database from 'better-sqlite3'
import type { Logger } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { startCheckpointer } from '../../src/db/checkpointer.ts'
import { type OpenSqliteOptions, openSqlite } from '../../src/db/sqlite.ts'
import type { FsyncFn } from '../../src/db/wal-sync.ts'
import { AppError } from '../../src/errors.ts'
import type { VerifiedEvent } from '../../src/providers/provider.ts'
import { openTestInbox } from '../support/sqlite-inbox.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { tempDir } from '../support/temp-dir.ts'
import { startTestService } from '../support/test-service.ts'

const event = (id: string, payload: unknown = { id }): VerifiedEvent => ({
  provider: 'stripe',
  id,
  type: 'test.event',
  payload,
})

/** An fsync the test releases by hand; it records every call. */
function gatedFsync() {
  const calls: Array<{ release(): void; fail(err: Error): void }> = []
  const fsync: FsyncFn = () =>
    new Promise<void>((resolve, reject) => calls.push({ release: resolve, fail: reject }))
  return { fsync, calls }
}

const tick = (ms = 20) => new Promise((resolve) => setTimeout(resolve, ms))

describe('durable commits', () => {
  const cleanups: Array<() => Promise<void> | void> = []
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c()
  })

  function setup(sqlite: Partial<OpenSqliteOptions> = {}) {
    const { db, inbox, path, dispose } = openTestInbox({ sqlite })
    cleanups.push(dispose)
    return { db, inbox, path }
  }

  it('answers neither the delivery nor a duplicate of it before the WAL fsync of its commit completes', async () => {
    const gate = gatedFsync()
    const { db, inbox } = setup({ fsync: gate.fsync })
    let answered = false
    const first = inbox.receive(event('evt_1'), new Date()).then((o) => {
      answered = true
      return o
    })
    await tick()
    // Committed (the read connection sees it) but not yet synced: no answer.
    expect(db.reader.prepare("SELECT status FROM hookinbox_events WHERE event_id = 'evt_1'").get()).toEqual({
      status: 'ignored',
    })
    expect(gate.calls).toHaveLength(1)
    expect(answered).toBe(false)
    let duplicateAnswered = false
    const duplicate = inbox.receive(event('evt_1'), new Date()).then((o) => {
      duplicateAnswered = true
      return o
    })
    await tick()
    expect(duplicateAnswered).toBe(false)

    gate.calls[0]?.release()
    expect(await first).toMatchObject({ status: 'ignored', duplicate: false })
    expect(await duplicate).toMatchObject({ status: 'ignored', duplicate: true })
  })

  it('commits made while an fsync runs share the next one', async () => {
    const gate = gatedFsync()
    const { inbox } = setup({ fsync: gate.fsync })
    const first = inbox.receive(event('a'), new Date())
    await tick()
    expect(gate.calls).toHaveLength(1)
    // Three more commits land while the first sync is still running…
    const later: Array<Promise<unknown>> = []
    for (const id of ['b', 'c', 'd']) {
      later.push(inbox.receive(event(id), new Date()))
      await tick()
    }
    expect(gate.calls).toHaveLength(1)
    gate.calls[0]?.release()
    await first
    await tick()
    // …and one more fsync covers all three.
    expect(gate.calls).toHaveLength(2)
    gate.calls[1]?.release()
    expect(await Promise.all(later)).toHaveLength(3)
  })

  it('from a failed fsync on, refuses (503) every delivery, duplicates included, and reports it once', async () => {
    const gate = gatedFsync()
    const failures: unknown[] = []
    const { inbox, db } = setup({ fsync: gate.fsync, onSyncFailure: (err) => failures.push(err) })
    const committedBefore = inbox.receive(event('before'), new Date())
    await tick()
    gate.calls[0]?.release()
    await committedBefore
    // A duplicate of it, answered from a read of its row, puts it in the settled-event cache.
    expect(await inbox.receive(event('before'), new Date())).toMatchObject({ duplicate: true })

    const failing = inbox.receive(event('lost'), new Date())
    await tick()
    gate.calls[1]?.fail(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }))
    expect(await failing.catch((e: unknown) => e)).toMatchObject({ kind: 'storage_unavailable', status: 503 })
    expect(failures).toHaveLength(1)
    expect(db.walSync.failure).toBeDefined()

    // A later fsync could succeed without the pages the failed one lost: nothing is acknowledged any more,
    // neither new events nor duplicates (not even of an event synced before the failure, held in memory).
    for (const id of ['next', 'lost', 'before']) {
      const err = await inbox.receive(event(id), new Date()).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(AppError)
      expect(err).toMatchObject({ kind: 'storage_unavailable' })
    }
    expect(gate.calls).toHaveLength(2)
    expect(failures).toHaveLength(1)
  })

  it('syncs the WAL of the file SQLite opened when the configured path is a symlink', async () => {
    const dir = tempDir('durable-link')
    const real = join(dir.path, 'real')
    mkdirSync(real)
    writeFileSync(join(real, 'db.sqlite'), '')
    const link = join(dir.path, 'link.sqlite')
    symlinkSync(join(real, 'db.sqlite'), link)
    const synced: string[] = []
    const db = openSqlite({
      path: link,
      synchronous: 'FULL',
      fsync: async (fd) => {
        synced.push(readlinkSync(`/proc/self/fd/${fd}`))
      },
    })
    cleanups.push(async () => {
      await db.close()
      dir.remove()
    })
    db.writer.exec('CREATE TABLE t (x)')
    await db.walSync.afterCommit()
    expect(synced).toEqual([join(real, 'db.sqlite-wal')])
    expect(existsSync(`${link}-wal`)).toBe(false)
  })

  it('the writer never checkpoints; the checkpoint thread copies the WAL into the database, which starts over past its limit', async () => {
    const limit = 256 * 1024
    const { db, inbox, path } = setup({ checkpoint: { intervalMs: 5, restartBytes: limit } })
    expect(db.writer.pragma('wal_autocheckpoint', { simple: true })).toBe(0)
    const payload = { text: 'x'.repeat(1000) }
    const before = statSync(path).size
    // The WAL file's size is sampled throughout: SQLite cuts it back to the limit after it starts over
    // (journal_size_limit), so only the largest size seen says how far the WAL overshot.
    let largestWal = 0
    const sampleWal = () => {
      largestWal = Math.max(largestWal, statSync(`${path}-wal`).size)
    }
    // Steady load: the next deliveries always arrive before the last ones are answered.
    const inFlight = new Set<Promise<unknown>>()
    for (let i = 0; i < 2000; i++) {
      const p = inbox.receive(event(`w${i}`, payload), new Date())
      inFlight.add(p)
      p.finally(() => inFlight.delete(p))
      if (inFlight.size >= 50) {
        await Promise.race(inFlight)
        sampleWal()
      }
    }
    await Promise.all(inFlight)
    sampleWal()
    await db.checkpointer?.checkpointed()
    // 2,000 events of ~1 KB went through a WAL that started over whenever it passed its limit: past it by
    // at most the batch that crossed it (up to 64 events, with their index pages), however late the
    // checkpoint thread reported (it used to decide, and lagged by several batches under CPU contention).
    expect(statSync(path).size - before).toBeGreaterThan(2_000_000)
    expect(largestWal).toBeGreaterThan(limit)
    expect(largestWal).toBeLessThan(limit * 4)

    await inbox.close()
    await db.close()
    const reopened = new Database(path, { readonly: true })
    expect(reopened.prepare('SELECT count(*) AS n FROM hookinbox_events').get()).toEqual({ n: 2000 })
    reopened.close()
  })
})

describe('a failed fsync, over HTTP', () => {
  it('answers every later delivery 503, takes /readyz down and asks the process to stop, once', async () => {
    let failNext = false
    const fatal: unknown[] = []
    const svc = await startTestService({
      walFsync: async () => {
        if (failNext) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' })
      },
      onFatal: (err) => fatal.push(err),
    })
    try {
      const first = stripeEvent()
      expect((await postStripe(svc.url, first)).status).toBe(200)
      expect((await fetch(`${svc.url}/readyz`)).status).toBe(200)

      failNext = true
      const lost = await postStripe(svc.url, stripeEvent())
      expect(lost.status).toBe(503)
      expect(lost.body).toMatchObject({ error: expect.any(String) })
      expect(JSON.stringify(lost.body)).not.toContain('EIO')
      failNext = false

      // Nothing is acknowledged any more: not a new event, not a duplicate of one synced before.
      expect((await postStripe(svc.url, stripeEvent())).status).toBe(503)
      expect((await postStripe(svc.url, first)).status).toBe(503)
      expect((await fetch(`${svc.url}/readyz`)).status).toBe(503)
      expect(fatal).toHaveLength(1)
      expect(svc.logs.join('')).toContain('an fsync of the SQLite WAL failed')
    } finally {
      await svc.dispose()
    }
  })
})

describe('the checkpoint thread failing', () => {
  it('hands checkpoints back to the writer, so the WAL never grows without bound', async () => {
    const dir = tempDir('ckpt-fail')
    const failing = join(dir.path, 'failing-worker.mjs')
    writeFileSync(failing, "throw new Error('the checkpoint thread could not start')\n")
    const db = openSqlite({ path: join(dir.path, 'db.sqlite'), synchronous: 'FULL' })
    const logged: unknown[] = []
    const checkpointer = startCheckpointer({
      path: db.path,
      writer: db.writer,
      workerUrl: pathToFileURL(failing),
      log: { error: (o: unknown) => logged.push(o), warn() {} } as unknown as Logger,
    })
    try {
      expect(db.writer.pragma('wal_autocheckpoint', { simple: true })).toBe(0)
      for (let i = 0; i < 100 && logged.length === 0; i++) await tick(20)
      expect(logged).toHaveLength(1)
      expect(db.writer.pragma('wal_autocheckpoint', { simple: true })).toBe(1000)
      expect(checkpointer.restartDue).toBe(false)
      // Waiting on it never hangs.
      await checkpointer.checkpointed()
    } finally {
      await checkpointer.close()
      await db.close()
      dir.remove()
    }
  })
})
