/**
 * WAL checkpoints on a thread of their own.
 *
 * SQLite's automatic checkpoint runs inside the COMMIT that crosses 1,000 WAL pages, on the connection that
 * commits: here, the one writer, on the event loop. A checkpoint copies pages into the database file and
 * fsyncs twice; with the random index pages webhook ids touch, that measured 5–16 ms a time here (p99 of the
 * commit), during which no request is read or answered. So the writer's automatic checkpoint is switched off
 * and a worker thread with its own connection runs PASSIVE checkpoints instead (they never take the write
 * lock), after commits, at most every `intervalMs`.
 *
 * SQLite starts the WAL file over when a write transaction begins with every frame already copied. Under
 * steady load that never happens by itself (the writer always commits again before the checkpoint ends), so
 * once the WAL passes `restartBytes` the inbox lets the checkpoint catch up before its next transaction
 * (`restartDue`, `checkpointed()`): a pause, awaited, never blocking. To keep it short, a checkpoint first
 * runs at once while the writer goes on, and the pause waits only for the frames committed during that one:
 * 3–20 ms measured under the bench's load, against 25–45 ms for all frames since the last checkpoint. (A
 * RESTART or TRUNCATE checkpoint from the thread instead takes the write lock and measured 0.2–1.3 s of
 * stalled writer.)
 *
 * The writer learns that the WAL passed its limit from the WAL file's size, read when it asks, not from the
 * thread's last report: that report lags whenever the thread gets no CPU, and the WAL overshot by several
 * batches. The size tells because `journal_size_limit` is set to the same limit: the first commit after the
 * WAL starts over cuts the file back to the limit, so the file grows past it only when the WAL does.
 *
 * If the worker fails, the writer's automatic checkpoint is switched back on: slower, never unbounded.
 */
import { closeSync, fstatSync, openSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import type Database from 'better-sqlite3'
import type { Logger } from 'pino'
import { waitAtMost } from '../wait-at-most.ts'

export interface Checkpointer {
  /** Tells the checkpointer the writer committed; a checkpoint follows within `intervalMs`. */
  committed(): void
  /** Size of the WAL after the last checkpoint, in bytes (for tests and metrics). */
  readonly lastWalBytes: number
  /** The WAL is past its limit: wait for `checkpointed()` before the next write transaction. Reads the WAL
   * file's size if anything was committed since it last looked. */
  readonly restartDue: boolean
  /**
   * Resolves after the next checkpoint, or after `maxWaitMs` if given (the writer's pause): a wait given up
   * on is forgotten then, so a thread that never answers leaves nothing behind per wait.
   */
  checkpointed(maxWaitMs?: number): Promise<void>
  /** Waits not resolved yet (tests). */
  readonly waiting: number
  close(): Promise<void>
}

export interface CheckpointerOptions {
  path: string
  writer: Database.Database
  log?: Logger | undefined
  /** The thread's script (tests give one that fails, to see the writer take checkpoints back). */
  workerUrl?: URL
  intervalMs?: number
  restartBytes?: number
  busyTimeoutMs?: number
}

const SQLITE_DEFAULT_AUTOCHECKPOINT = 1000

export function startCheckpointer(options: CheckpointerOptions): Checkpointer {
  const intervalMs = options.intervalMs ?? 250
  const restartBytes = options.restartBytes ?? 64 * 1024 * 1024
  // SQLite keeps the WAL file while connections are open (the migrations created it): one descriptor to
  // read its size from.
  const walFd = openSync(`${options.path}-wal`, 'r')
  const worker = new Worker(options.workerUrl ?? new URL('./checkpoint-worker.mjs', import.meta.url), {
    workerData: { path: options.path, busyTimeoutMs: options.busyTimeoutMs ?? 1000 },
    // Not the parent's flags (a loader, --cpu-prof): the worker is plain JavaScript.
    execArgv: [],
  })
  options.writer.pragma('wal_autocheckpoint = 0')
  options.writer.pragma(`journal_size_limit = ${restartBytes}`)

  let running = false
  let pending = false
  let timer: NodeJS.Timeout | undefined
  /** When the last checkpoint started, on the monotonic clock: the wall clock set back an hour (an NTP step)
   * put the next one off by that hour. */
  let lastRun = Number.NEGATIVE_INFINITY
  let failed = false
  let closed = false
  let lastWalBytes = 0
  /** The WAL file's size, as read after `sizedAt` commits. */
  let walFileBytes = 0
  let sizedAt = -1
  /** Commits so far; those made before the running checkpoint started; those all copied by some checkpoint. */
  let commits = 0
  let commitsAtRun = 0
  let copiedThrough = 0
  /** Checkpoints started so far; a waiter is released by the first checkpoint numbered `run` or later. */
  let runs = 0
  let finishedRuns = 0
  /**
   * Set when the WAL is first seen past its limit: the checkpoint that copies everything committed until
   * then. The writer goes on meanwhile and pauses only once it has finished, for what came after.
   */
  let catchUpRun: number | undefined
  let waiters: Array<{ run: number; resolve: () => void }> = []
  const releaseAll = () => {
    for (const w of waiters.splice(0)) w.resolve()
  }

  function fallBack(reason: unknown) {
    if (failed) return
    failed = true
    options.log?.error(
      { err: reason },
      'the checkpoint thread failed; the writer checkpoints on its own again',
    )
    try {
      options.writer.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_AUTOCHECKPOINT}`)
    } catch {
      // the writer is closed or broken; nothing left to checkpoint for
    }
    releaseAll()
  }

  function run() {
    timer = undefined
    if (running || failed || closed) return
    running = true
    pending = false
    lastRun = performance.now()
    commitsAtRun = commits
    runs++
    worker.postMessage('checkpoint')
  }

  /** The next checkpoint starts now, or as soon as the running one finishes. */
  function startNow() {
    pending = true
    if (running) return
    if (timer) clearTimeout(timer)
    run()
  }

  function schedule() {
    if (timer || running || failed || closed) return
    timer = setTimeout(run, Math.max(0, lastRun + intervalMs - performance.now()))
    timer.unref()
  }

  worker.on(
    'message',
    (m: { ok: boolean; busy?: boolean; walBytes?: number; caughtUp?: boolean; error?: string }) => {
      running = false
      finishedRuns = runs
      if (m.busy) {
        // Another connection held the checkpoint lock; try again after the next commit.
      } else if (m.ok) {
        lastWalBytes = m.walBytes ?? 0
        // Everything committed before this checkpoint started is in the database file now.
        if (m.caughtUp) copiedThrough = commitsAtRun
      } else {
        // A busy database or a full disk: log and try again after the next commit.
        options.log?.warn({ error: m.error }, 'a WAL checkpoint failed')
      }
      const done = runs
      waiters = waiters.filter((w) => {
        if (w.run > done) return true
        w.resolve()
        return false
      })
      if (waiters.length === 0 && !closed) worker.unref()
      // Someone needs the next checkpoint now (the writer pausing, or the catch-up before it): not after the
      // interval, which would stall the writer for up to `intervalMs` more.
      if (pending && (waiters.length > 0 || (catchUpRun !== undefined && finishedRuns < catchUpRun))) run()
      else if (pending) schedule()
    },
  )
  worker.on('error', fallBack)
  worker.on('exit', (code) => {
    if (!closed) fallBack(new Error(`the checkpoint thread exited with code ${code}`))
  })
  worker.unref()

  return {
    committed() {
      commits++
      pending = true
      schedule()
    },
    get lastWalBytes() {
      return lastWalBytes
    },
    get restartDue() {
      // Nothing committed since a checkpoint copied it all: the next transaction starts the WAL over anyway.
      if (failed || closed || copiedThrough === commits) return false
      if (sizedAt !== commits) {
        walFileBytes = fstatSync(walFd).size
        sizedAt = commits
      }
      if (walFileBytes <= restartBytes) {
        catchUpRun = undefined
        return false
      }
      // Past the limit. Pausing at once would wait for a checkpoint of everything since the last one (25–45 ms
      // measured under load): instead one runs now while the writer goes on, and the pause waits only for the
      // few frames committed during it. Bounded: a checkpoint that lags (a slow disk, no CPU for the thread)
      // makes the writer pause anyway once the WAL is twice its limit.
      if (walFileBytes > 2 * restartBytes) return true
      if (catchUpRun === undefined) {
        catchUpRun = runs + 1
        startNow()
        return false
      }
      return finishedRuns >= catchUpRun
    },
    checkpointed(maxWaitMs) {
      if (failed || closed) return Promise.resolve()
      // The checkpoint that starts next (after the one running, if any) includes every commit so far.
      const target = runs + 1
      const done = new Promise<void>((resolve) => {
        if (maxWaitMs === undefined) {
          waiters.push({ run: target, resolve })
          return
        }
        // Removed when the time is up, not only resolved: the writer asks again at its next batch, every
        // 2 s while the thread does not answer, and each wait kept until a checkpoint ran grew the list (and
        // what the caller attached to it) for as long as the thread hung.
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter)
          if (waiters.length === 0 && !closed) worker.unref()
          resolve()
        }, maxWaitMs)
        const waiter = {
          run: target,
          resolve: () => {
            clearTimeout(timer)
            resolve()
          },
        }
        waiters.push(waiter)
      })
      // Someone waits on the thread: keep the process alive until it answers.
      worker.ref()
      startNow()
      return done
    },
    get waiting() {
      return waiters.length
    },
    async close() {
      if (closed) return
      closed = true
      if (timer) clearTimeout(timer)
      releaseAll()
      closeSync(walFd)
      if (failed) return
      // Referenced again while closing: awaiting an unreferenced thread would let the process exit mid-close.
      worker.ref()
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
      worker.postMessage('close')
      // A checkpoint in progress finishes first; never wait forever for a stuck thread.
      await waitAtMost(exited, 5000, undefined)
      await worker.terminate()
    },
  }
}
