/**
 * Durable commits without blocking the event loop.
 *
 * With `synchronous=FULL` in WAL mode, SQLite's only extra step over NORMAL is an fsync of the WAL file at
 * the end of every COMMIT, and better-sqlite3 runs it on the calling thread: here ~1.3 ms, during which the
 * service reads and answers nothing. So the writer commits with NORMAL and this module does that same fsync
 * on libuv's thread pool (fs.fsync on its own descriptor of the WAL: fsync flushes the file, whichever
 * descriptor wrote it). Nothing may treat a commit as durable before its sync resolves:
 * - a delivery is answered only after `afterCommit()` of the commit that holds it resolves;
 * - a duplicate answered from a read of committed rows first waits for `settled()`, since the row it saw may
 *   belong to a commit whose sync is still running.
 * Commits that land while a sync runs share the next one (one fsync for all of them).
 *
 * The crash guarantees are FULL's: a killed process loses nothing committed (the OS has the pages); a power
 * loss may lose commits whose sync had not finished, and none of those was acknowledged.
 *
 * A failed fsync is final. Linux may already have dropped the pages it could not write, so a later fsync
 * would succeed without them, and SQLite's WAL recovery stops at the first missing frame, taking every later
 * commit with it. (SQLite's own FULL would have failed that COMMIT.) So from the first failure on, every
 * commit is refused (503, the provider retries), `failure` says why, and `onFailure` runs once: the process
 * entry stops the service so that SQLite recovers the database from disk at the next start.
 */
import { closeSync, fsync, openSync } from 'node:fs'

export interface WalSync {
  /** Call right after a COMMIT: resolves once that commit (and every earlier one) is on disk. */
  afterCommit(): Promise<void>
  /** Undefined if every commit so far is on disk; else a promise that resolves when they all are. */
  settled(): Promise<void> | undefined
  /** The fsync error that stopped durable commits, if one did. */
  readonly failure: unknown
  close(): void
}

export interface WalSyncOptions {
  fsync?: FsyncFn
  /** Called once, on the first failed fsync. */
  onFailure?: (err: unknown) => void
}

export type FsyncFn = (fd: number) => Promise<void>

const fsyncOnPool: FsyncFn = (fd) =>
  new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())))

/** For synchronous=NORMAL: commits are durable at the next checkpoint; nothing to wait for. */
export const NO_WAL_SYNC: WalSync = {
  afterCommit: () => Promise.resolve(),
  settled: () => undefined,
  failure: undefined,
  close() {},
}

export function createWalSync(walPath: string, options: WalSyncOptions = {}): WalSync {
  const doFsync = options.fsync ?? fsyncOnPool
  // The WAL is kept (and reused, never removed) while connections are open. Opened for writing although
  // nothing is written through it: Windows flushes only handles with write access.
  const fd = openSync(walPath, 'r+')
  let failure: unknown
  /** Commits reported so far, and how many of them are known to be on disk. */
  let committed = 0
  let synced = 0
  let syncing: Promise<void> | undefined
  const waiters: Array<{ upTo: number; resolve(): void; reject(err: unknown): void }> = []

  function wait(upTo: number): Promise<void> {
    if (failure !== undefined) return Promise.reject(failure)
    const done = new Promise<void>((resolve, reject) => waiters.push({ upTo, resolve, reject }))
    startSync()
    return done
  }

  function startSync() {
    if (syncing || waiters.length === 0) return
    // Everything committed before the fsync starts is covered by it.
    const target = committed
    syncing = doFsync(fd).then(
      () => {
        synced = Math.max(synced, target)
        // Waiters are pushed with non-decreasing `upTo` (the commit count only grows): the covered ones lead.
        while ((waiters[0]?.upTo ?? Number.POSITIVE_INFINITY) <= target) waiters.shift()?.resolve()
      },
      (err: unknown) => {
        failure ??= err
        // Every waiter, not only this sync's: no later sync can be trusted either (see above).
        for (const w of waiters.splice(0)) w.reject(err)
        try {
          options.onFailure?.(err)
        } catch {
          // the callback's own failure changes nothing here
        }
      },
    )
    syncing.finally(() => {
      syncing = undefined
      if (failure === undefined) startSync()
    })
  }

  return {
    afterCommit() {
      committed++
      return wait(committed)
    },
    settled() {
      if (failure !== undefined) return Promise.reject(failure)
      return synced >= committed ? undefined : wait(committed)
    },
    get failure() {
      return failure
    },
    close() {
      closeSync(fd)
    },
  }
}
