/**
 * Durable commits without blocking the event loop.
 *
 * With `synchronous=FULL` in WAL mode, SQLite's only extra step over NORMAL is an fsync of the WAL file at
 * the end of every COMMIT, and better-sqlite3 runs it on the calling thread: here ~1.3 ms, during which the
 * service reads and answers nothing. So the writer commits with NORMAL and this module does that same fsync
 * on libuv's thread pool (fs.fsync on its own descriptor of the WAL: fsync flushes the file, whichever
 * descriptor wrote it). Nothing may treat a commit as durable before its sync resolves:
 * - a delivery is answered only after `afterCommit()` of the commit that holds it resolves;
 * - a duplicate answered from the read connection first waits for `settled()`, since the row it saw may
 *   belong to a commit whose sync is still running.
 * Commits that land while a sync runs share the next one (one fsync for all of them).
 *
 * The crash guarantees are FULL's: a killed process loses nothing committed (the OS has the pages); a power
 * loss may lose commits whose sync had not finished, and none of those was acknowledged.
 */
import { closeSync, fsync, openSync } from 'node:fs'

export interface WalSync {
  /** Call right after a COMMIT: resolves once that commit (and every earlier one) is on disk. */
  afterCommit(): Promise<void>
  /** Undefined if every commit so far is on disk; else a promise that resolves when they all are. */
  settled(): Promise<void> | undefined
  close(): void
}

export type FsyncFn = (fd: number) => Promise<void>

const fsyncOnPool: FsyncFn = (fd) =>
  new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())))

/** For synchronous=NORMAL: commits are durable at the next checkpoint; nothing to wait for. */
export const NO_WAL_SYNC: WalSync = {
  afterCommit: () => Promise.resolve(),
  settled: () => undefined,
  close() {},
}

export function createWalSync(walPath: string, doFsync: FsyncFn = fsyncOnPool): WalSync {
  // The WAL exists once the database is in WAL mode and has been written (migrations); it is kept (and
  // reused, never removed) while connections are open.
  const fd = openSync(walPath, 'r')
  /** Commits reported so far, and how many of them are known to be on disk. */
  let committed = 0
  let synced = 0
  let syncing: Promise<void> | undefined
  const waiters: Array<{ upTo: number; resolve(): void; reject(err: unknown): void }> = []

  function wait(upTo: number): Promise<void> {
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
        settle(
          (w) => w.upTo <= target,
          (w) => w.resolve(),
        )
      },
      (err: unknown) => {
        // The kernel may already have dropped the failed pages: these commits are not known durable, and their
        // deliveries get a 503 (the provider retries). The next sync starts afresh.
        settle(
          (w) => w.upTo <= target,
          (w) => w.reject(err),
        )
      },
    )
    syncing.finally(() => {
      syncing = undefined
      startSync()
    })
  }

  function settle(
    match: (w: (typeof waiters)[number]) => boolean,
    action: (w: (typeof waiters)[number]) => void,
  ) {
    for (let i = 0; i < waiters.length; ) {
      const w = waiters[i] as (typeof waiters)[number]
      if (match(w)) {
        waiters.splice(i, 1)
        action(w)
      } else {
        i++
      }
    }
  }

  return {
    afterCommit() {
      committed++
      return wait(committed)
    },
    settled() {
      return synced >= committed ? undefined : wait(committed)
    },
    close() {
      closeSync(fd)
    },
  }
}
