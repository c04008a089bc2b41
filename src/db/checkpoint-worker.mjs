// The WAL checkpointer's thread (see checkpointer.ts). Plain JavaScript, so it loads as it is under any
// runner (tsx, vitest, node). It owns one connection to the database and does nothing but PASSIVE
// checkpoints, so their page copies and fsyncs never block the event loop that serves deliveries.
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'

const { path, busyTimeoutMs } = workerData
const db = new Database(path, { fileMustExist: true })
db.pragma(`busy_timeout = ${busyTimeoutMs}`)
// Checkpoints sync the WAL before copying and the database file after, whatever this setting; the
// connection writes no transactions of its own.
db.pragma('synchronous = NORMAL')
const pageSize = db.pragma('page_size', { simple: true })

parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close()
    parentPort.close()
    return
  }
  try {
    // PASSIVE never takes the write lock: it copies what it can while the writer goes on.
    const [row] = db.pragma('wal_checkpoint(PASSIVE)')
    // busy: another connection was checkpointing (log and checkpointed are then -1); nothing is known.
    if (row.busy !== 0 || row.log < 0) {
      parentPort.postMessage({ ok: true, busy: true })
      return
    }
    parentPort.postMessage({ ok: true, walBytes: row.log * pageSize, caughtUp: row.checkpointed === row.log })
  } catch (err) {
    parentPort.postMessage({ ok: false, error: err instanceof Error ? err.message : String(err) })
  }
})
