/**
 * A read-only connection on a thread of its own, for the admin's reads. better-sqlite3 runs a query on the
 * thread that calls it, so a read on the event loop holds every delivery until it returns: an operator's
 * search through millions of events, or one step of it that has to come from a cold disk (up to 2.5 s
 * measured), would make the providers wait. Here Drizzle builds the query on the main thread as usual
 * (drizzle-orm/sqlite-proxy), the SQL and its values go to the thread, and the rows come back, so the
 * deliveries go on whatever the admin reads.
 *
 * The thread starts with the service when the admin is enabled, else at the first query (a service nobody
 * administers pays nothing for it). If it dies, the queries it held fail as "database unavailable" (503) and
 * the next query starts a new one.
 */
import { Worker } from 'node:worker_threads'
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3'
import { drizzle } from 'drizzle-orm/sqlite-proxy'
import type { Logger } from 'pino'
import { waitAtMost } from '../wait-at-most.ts'
import { READ_THREAD_STOPPED } from './unavailable.ts'

export interface ReadThread {
  /** Drizzle over the thread's connection; like every reader here, its queries are only awaited. */
  db: BetterSQLite3Database
  /** Starts the thread now rather than at the first query (a first admin request would wait ~40 ms). */
  start(): void
  /** The thread while one runs (tests stop it to prove what a crash does). */
  worker(): Worker | undefined
  /** Fails the queries still out and refuses later ones at once; the thread ends as soon as it can. */
  stop(): void
  /** stop(), then waits a little for the thread to end. */
  close(): Promise<void>
}

export interface ReadThreadOptions {
  path: string
  /** How long a read waits for a lock (SQLite's recovery of a WAL, say); it waits on its own thread. */
  busyTimeoutMs?: number
  log?: Logger
  /** Tests: an Int32Array's buffer that holds every query while its slot 0 is 0 (see read-thread.mjs). */
  hold?: SharedArrayBuffer
}

interface Query {
  sql: string
  params: unknown[]
  method: 'run' | 'all' | 'values' | 'get'
}

type Answer =
  | { id: number; result: { rows: unknown[] } }
  | { id: number; error: { message: string; code?: string } }

const stopped = (why: string) => ({ message: `the admin's read thread ${why}`, code: READ_THREAD_STOPPED })
const toError = ({ message, code }: { message: string; code?: string }) =>
  Object.assign(new Error(message), code ? { code } : {})

/** How long a stop waits for the thread to finish the statement it is in. */
const CLOSE_WAIT_MS = 5_000

export function startReadThread(options: ReadThreadOptions): ReadThread {
  let current:
    | { worker: Worker; pending: Map<number, (answer: Answer) => void>; fail(why: string): void }
    | undefined
  let nextId = 0
  let closed = false
  /** Once stopped: settles when the thread has exited. */
  let exited: Promise<boolean> | undefined

  function spawn() {
    const worker = new Worker(new URL('./read-thread.mjs', import.meta.url), {
      workerData: { path: options.path, busyTimeoutMs: options.busyTimeoutMs ?? 5_000, hold: options.hold },
      // Not the parent's flags (a loader, --cpu-prof): the thread is plain JavaScript.
      execArgv: [],
    })
    const pending = new Map<number, (answer: Answer) => void>()
    const fail = (why: string) => {
      if (current === thread) current = undefined
      for (const [id, settle] of pending) settle({ id, error: stopped(why) })
      pending.clear()
    }
    const thread = { worker, pending, fail }
    worker.on('message', (answer: Answer) => {
      const settle = pending.get(answer.id)
      pending.delete(answer.id)
      // An idle thread does not keep the process alive; one with a query to answer does (see query below).
      if (pending.size === 0) worker.unref()
      settle?.(answer)
    })
    worker.on('error', (err) => {
      options.log?.error({ err }, "the admin's read thread failed; the next admin request starts a new one")
      fail('failed')
    })
    worker.on('exit', (code) => {
      if (!closed && current === thread)
        options.log?.error(
          { code },
          "the admin's read thread stopped; the next admin request starts a new one",
        )
      fail(closed ? 'was closed' : 'stopped')
    })
    // After the listeners: adding a 'message' listener refs the thread again.
    worker.unref()
    return thread
  }

  const query = ({ sql, params, method }: Query) =>
    new Promise<{ rows: unknown[] }>((resolve, reject) => {
      if (closed) {
        reject(toError(stopped('was closed')))
        return
      }
      current ??= spawn()
      const id = ++nextId
      if (current.pending.size === 0) current.worker.ref()
      current.pending.set(id, (answer) => {
        if ('result' in answer) resolve(answer.result)
        else reject(toError(answer.error))
      })
      current.worker.postMessage({ id, sql, params, method })
    })

  const stop = () => {
    if (closed) return
    closed = true
    const thread = current
    current = undefined
    if (!thread) return
    exited = new Promise<boolean>((resolve) => thread.worker.once('exit', () => resolve(true)))
    // The queries it holds fail at once (503), so that a stop does not wait for an operator's long search
    // before the HTTP server can close. A statement already running in SQLite ends before the thread can.
    thread.fail('was closed')
    // Nothing waits for its answers any more: a process with nothing else to do may end meanwhile.
    thread.worker.unref()
    void thread.worker.terminate()
  }

  const db = drizzle((sql, params, method) => query({ sql, params, method }))
  return {
    // The same query builder as the other readers; only awaited, so sync and async Drizzle read alike.
    db: db as unknown as BetterSQLite3Database,
    start() {
      if (!closed) current ??= spawn()
    },
    worker: () => current?.worker,
    stop,
    async close() {
      stop()
      // The connection only reads, and ends with the thread or the process: a slow statement is not waited
      // for long.
      if (exited && !(await waitAtMost(exited, CLOSE_WAIT_MS, false)))
        options.log?.warn(
          { waitedMs: CLOSE_WAIT_MS },
          "the admin's read thread is still in a query; stopping without waiting for it",
        )
      exited = undefined
    },
  }
}
