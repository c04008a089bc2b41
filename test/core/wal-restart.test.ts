/**
 * The WAL starts over past its limit with only a short pause of the writer. Once the WAL is past the limit,
 * a checkpoint runs at once while the writer goes on; the writer pauses (restartDue) only after it, for the
 * frames committed meanwhile, or once the WAL is twice its limit if the checkpoint thread lags.
 */
import { statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type Checkpointer, startCheckpointer } from '../../src/db/checkpointer.ts'
import { openSqlite } from '../../src/db/sqlite.ts'
import { tempDir } from '../support/temp-dir.ts'

/** Above the WAL the migrations leave (about 150 KB), so the tests' own commits cross it. */
const LIMIT = 512 * 1024
/** Long enough that no checkpoint in these tests comes from the timer, except the very first. */
const HOUR = 3_600_000

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  vi.restoreAllMocks()
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function setup(workerUrl?: URL, intervalMs = HOUR) {
  const dir = tempDir('wal-restart')
  const db = openSqlite({ path: join(dir.path, 'db.sqlite'), synchronous: 'FULL' })
  db.writer.exec('CREATE TABLE t (x TEXT)')
  const checkpointer = startCheckpointer({
    path: db.path,
    writer: db.writer,
    intervalMs,
    restartBytes: LIMIT,
    ...(workerUrl ? { workerUrl } : {}),
  })
  cleanups.push(
    () => dir.remove(),
    () => db.close(),
    () => checkpointer.close(),
  )
  const insert = db.writer.prepare('INSERT INTO t VALUES (?)')
  const walBytes = () => statSync(`${db.path}-wal`).size
  /** One commit, reported as the inbox reports it. */
  const commit = () => {
    insert.run('x'.repeat(4000))
    checkpointer.committed()
  }
  const commitUntilWalPasses = (bytes: number) => {
    expect(walBytes()).toBeLessThan(bytes)
    while (walBytes() <= bytes) commit()
  }
  return { db, checkpointer, commit, commitUntilWalPasses, walBytes }
}

/** A checkpoint thread of the test's own: `body` runs with `parentPort` in scope. */
function standInThread(body: string): URL {
  const dir = tempDir('checkpoint-thread')
  cleanups.push(() => dir.remove())
  const path = join(dir.path, 'checkpoint-thread.mjs')
  writeFileSync(path, `import { parentPort } from 'node:worker_threads'\n${body}\n`)
  return pathToFileURL(path)
}

async function waitUntil(what: string, condition: () => boolean) {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
  expect(condition(), what).toBe(true)
}

const settledWithin = (promise: Promise<unknown>, ms: number) =>
  Promise.race([
    promise.then(() => 'settled'),
    new Promise((resolve) => setTimeout(() => resolve('still waiting'), ms)),
  ])

describe('the WAL past its limit', () => {
  it('is checkpointed at once while the writer goes on, then starts over without the writer pausing', async () => {
    const { checkpointer, commit, commitUntilWalPasses, walBytes } = setup()
    commitUntilWalPasses(LIMIT)
    // No pause asked for yet: a checkpoint of what is there runs first.
    expect(checkpointer.restartDue).toBe(false)
    await waitUntil('the catch-up checkpoint ran', () => checkpointer.lastWalBytes > 0)
    // It copied everything (nothing was committed meanwhile): no pause at all is needed.
    expect(checkpointer.restartDue).toBe(false)
    commit()
    // That commit began with every frame copied, so SQLite started the WAL over and cut the file back.
    expect(walBytes()).toBeLessThanOrEqual(LIMIT)
    expect(checkpointer.restartDue).toBe(false)
  })

  it('asks the writer to pause once the catch-up checkpoint is done and more was committed meanwhile', async () => {
    const { checkpointer, commit, commitUntilWalPasses } = setup()
    commitUntilWalPasses(LIMIT)
    expect(checkpointer.restartDue).toBe(false)
    // Committed while the catch-up is on its way: not covered by it.
    commit()
    await waitUntil('the catch-up checkpoint ran', () => checkpointer.lastWalBytes > 0)
    expect(checkpointer.restartDue).toBe(true)
    await checkpointer.checkpointed()
    expect(checkpointer.restartDue).toBe(false)
  })

  it('with a checkpoint thread that never answers, asks the writer to pause at twice the limit', async () => {
    const silent = standInThread("parentPort.on('message', (m) => m === 'close' && process.exit(0))")
    const { checkpointer, commit, commitUntilWalPasses, walBytes } = setup(silent)
    commitUntilWalPasses(LIMIT)
    expect(checkpointer.restartDue).toBe(false)
    while (walBytes() <= 2 * LIMIT) {
      expect(checkpointer.restartDue).toBe(false)
      commit()
    }
    expect(checkpointer.restartDue).toBe(true)
    // The writer then waits for a checkpoint, gives up after a while and asks again at its next batch, for
    // as long as the thread stays silent: a wait given up on leaves nothing behind.
    for (let i = 0; i < 50; i++) await checkpointer.checkpointed(1)
    expect(checkpointer.waiting).toBe(0)
  })
})

describe('a pause asked for while a checkpoint runs', () => {
  it('is served by the next checkpoint at once, not after the checkpoint interval', async () => {
    const { checkpointer, commit }: { checkpointer: Checkpointer; commit: () => void } = setup()
    commit()
    // The first starts a checkpoint; the second must wait for one that starts after it, so after that one.
    const first = checkpointer.checkpointed()
    commit()
    const second = checkpointer.checkpointed()
    expect(await settledWithin(first, 5000)).toBe('settled')
    expect(await settledWithin(second, 5000)).toBe('settled')
  })
})

describe('the checkpoint interval', () => {
  it('is kept when the wall clock is set back (an NTP step): the next checkpoint is not put off by the step', async () => {
    // A thread that counts its checkpoints in walBytes, so each one shows.
    const counting = standInThread(
      "let runs = 0\nparentPort.on('message', (m) => (m === 'close' ? process.exit(0) : parentPort.postMessage({ ok: true, walBytes: ++runs })))",
    )
    const { checkpointer, commit } = setup(counting, 50)
    commit()
    await waitUntil('the first checkpoint ran', () => checkpointer.lastWalBytes > 0)
    const before = checkpointer.lastWalBytes
    // The wall clock goes back an hour; the checkpoint after the next commits is due 50 ms after the last one.
    const wall = Date.now
    vi.spyOn(Date, 'now').mockImplementation(() => wall() - HOUR)
    for (let i = 0; i < 5; i++) commit()
    await waitUntil('a checkpoint ran after the step', () => checkpointer.lastWalBytes > before)
  })
})
