// The admin's read thread (see read-thread.ts). Plain JavaScript, so it loads as it is under any runner
// (tsx, vitest, node) and costs a bare worker's memory. It owns one read-only connection and runs the SQL
// that Drizzle built on the main thread, answering each query as rows of values in column order.
import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'

const { path, busyTimeoutMs, hold } = workerData
const db = new Database(path, { readonly: true, fileMustExist: true })
db.pragma(`busy_timeout = ${busyTimeoutMs}`)

// The admin's queries are few shapes with different values: keep their statements prepared.
const STATEMENTS = 200
const statements = new Map()
function prepare(sql) {
  let statement = statements.get(sql)
  if (statement) return statement
  statement = db.prepare(sql)
  if (statements.size >= STATEMENTS) statements.delete(statements.keys().next().value)
  statements.set(sql, statement)
  return statement
}

// Tests only: slot 0 holds every query while it is 0 (a read that takes as long as the test wants); slot 1
// counts the queries that came to it.
const held = hold ? new Int32Array(hold) : undefined

function run({ sql, params, method }) {
  const statement = prepare(sql)
  if (!statement.reader) return { rows: [], ...statement.run(params) }
  const raw = statement.raw(true)
  return { rows: method === 'get' ? raw.get(params) : raw.all(params) }
}

parentPort.on('message', (message) => {
  if (held) {
    Atomics.add(held, 1, 1)
    Atomics.wait(held, 0, 0)
  }
  try {
    parentPort.postMessage({ id: message.id, result: run(message) })
  } catch (err) {
    // What the main thread needs to tell a busy or broken database (503) from a wrong query (500).
    const { message: text, code } = err instanceof Error ? err : { message: String(err) }
    parentPort.postMessage({ id: message.id, error: { message: text, code } })
  }
})
