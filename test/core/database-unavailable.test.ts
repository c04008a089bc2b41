import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { asAppError } from '../../src/errors.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { effectHandler, startTestService, type TestService } from '../support/test-service.ts'

describe('the database is unavailable', () => {
  let svc: TestService
  beforeAll(async () => {
    svc = await startTestService({ handlers: { 'effect.ts': effectHandler() } })
  })
  afterAll(() => svc.dispose())

  /** Another connection (as another process would) that takes the database's write lock. */
  async function lockDatabase(): Promise<Database.Database> {
    const other = new Database(svc.dbPath)
    // better-sqlite3 waits for a lock synchronously, which would freeze this process and with it the service
    // (it runs in-process) while it holds the lock for its start-up retention pass: poll without waiting.
    other.pragma('busy_timeout = 0')
    for (let tries = 0; ; tries++) {
      try {
        other.exec('BEGIN IMMEDIATE')
        return other
      } catch (err) {
        if (tries > 200) throw err
        await new Promise((r) => setTimeout(r, 10))
      }
    }
  }

  it('a write lock held by another process: 503, nothing acknowledged, and it recovers when released', async () => {
    const other = await lockDatabase()
    try {
      const event = stripeEvent()
      const res = await postStripe(svc.url, event)
      expect(res.status).toBe(503)
      expect(res.body).toEqual({ error: 'the event store is unavailable; retry later' })
      other.exec('ROLLBACK')
      const retry = await postStripe(svc.url, event)
      expect(retry.status).toBe(200)
      expect(retry.body).toEqual({ received: true, duplicate: false, status: 'processed' })
      const [row] = svc.query<{ n: number }>(
        'SELECT count(*) AS n FROM test_effects WHERE event_id = ?',
        event.id,
      )
      expect(row?.n).toBe(1)
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK')
      other.close()
    }
  })

  it('/readyz answers 503 while another process holds the write lock (deliveries get 503), and 200 after', async () => {
    expect((await fetch(`${svc.url}/readyz`)).status).toBe(200)
    const other = await lockDatabase()
    try {
      expect((await postStripe(svc.url, stripeEvent())).status).toBe(503)
      const locked = await fetch(`${svc.url}/readyz`)
      expect(locked.status).toBe(503)
      expect(await locked.json()).toEqual({ status: 'unavailable' })
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK')
      other.close()
    }
    expect((await fetch(`${svc.url}/readyz`)).status).toBe(200)
    expect((await postStripe(svc.url, stripeEvent())).status).toBe(200)
  })
})

describe('which database errors mean "unavailable, retry later" (503) and which are bugs (500)', () => {
  const wrapped = (cause: unknown) => Object.assign(new Error('Failed query: select 1'), { cause })
  it.each([
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    [
      'too many clients (53300), as Drizzle wraps it',
      wrapped(Object.assign(new Error('sorry'), { code: '53300' })),
    ],
    ['an administrator shutdown (57P01)', Object.assign(new Error('terminating'), { code: '57P01' })],
    ['a lost connection', new Error('Connection terminated unexpectedly')],
    ['no pooled connection in time', new Error('timeout exceeded when trying to connect')],
    ['a locked SQLite file', Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' })],
    ['a full disk under SQLite', Object.assign(new Error('disk full'), { code: 'SQLITE_FULL' })],
  ])('%s is 503', (_, err) => {
    expect(asAppError(err)).toMatchObject({ kind: 'storage_unavailable', status: 503 })
  })
  it.each([
    ['a syntax error (42601)', wrapped(Object.assign(new Error('syntax error'), { code: '42601' }))],
    ['a unique violation (23505)', Object.assign(new Error('duplicate key'), { code: '23505' })],
    ['a SQLite constraint', Object.assign(new Error('constraint'), { code: 'SQLITE_CONSTRAINT_UNIQUE' })],
    ['a plain bug', new TypeError('x is undefined')],
  ])('%s stays an internal error (500)', (_, err) => {
    expect(asAppError(err)).toMatchObject({ kind: 'internal', status: 500 })
  })
})
