/**
 * On SQLite the admin's reads run on a thread of their own, on a read-only connection: however long one
 * takes (a search through millions of events, a step that must come from a cold disk), deliveries are
 * answered meanwhile. The tests hold the thread's queries for as long as they want (a SharedArrayBuffer the
 * thread waits on), which on the event loop would hold every delivery too.
 */
import { spawn } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { eq, sql } from 'drizzle-orm'
import { afterEach, describe, expect, it } from 'vitest'
import type { EventPage } from '../../src/admin/event-history.ts'
import { inErrorChain } from '../../src/db/error-chain.ts'
import { openSqlite } from '../../src/db/sqlite.ts'
import { sqliteTables } from '../../src/db/tables.ts'
import { READ_THREAD_STOPPED } from '../../src/db/unavailable.ts'
import { adminGet } from '../support/admin-client.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { tempDir } from '../support/temp-dir.ts'
import { startTestService, type TestService, untilPending } from '../support/test-service.ts'

const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Slot 0: queries wait while it is 0. Slot 1: how many queries have reached the thread. */
function hold() {
  const buffer = new SharedArrayBuffer(8)
  const slots = new Int32Array(buffer)
  return {
    buffer,
    reached: () => Atomics.load(slots, 1),
    release() {
      Atomics.store(slots, 0, 1)
      Atomics.notify(slots, 0)
    },
  }
}

async function until(condition: () => boolean) {
  while (!condition()) await new Promise((r) => setTimeout(r, 10))
}

/** A promise's state, read without waiting for it. */
function track<T>(promise: Promise<T>) {
  const state = { settled: false, promise }
  promise.then(
    () => {
      state.settled = true
    },
    () => {
      state.settled = true
    },
  )
  return state
}

describe("the admin's reads run on their own thread", () => {
  let svc: TestService | undefined
  let held: ReturnType<typeof hold> | undefined
  afterEach(async () => {
    held?.release()
    await svc?.dispose()
    svc = undefined
  })

  it('answers deliveries while an admin read is held, and the read then sees them', async () => {
    held = hold()
    svc = await startTestService({ adminReadHold: held.buffer })
    const list = track(adminGet<EventPage>(svc.url, '/admin/api/events?limit=100'))
    await until(() => (held?.reached() ?? 0) >= 1)

    const events = Array.from({ length: 20 }, () => stripeEvent({ type: 'invoice.paid' }))
    const answers = await Promise.all(events.map((e) => postStripe(svc?.url ?? '', e)))
    expect(answers.map((a) => a.status)).toEqual(events.map(() => 200))
    expect(list.settled).toBe(false)

    held.release()
    const { status, body } = await list.promise
    expect(status).toBe(200)
    expect(body.events.map((e) => e.eventId).sort()).toEqual(events.map((e) => e.id).sort())
  })

  it('answers 503 when the thread dies under a read, and the next read starts a new thread', async () => {
    held = hold()
    svc = await startTestService({ adminReadHold: held.buffer })
    const list = track(adminGet(svc.url, '/admin/api/events'))
    await until(() => (held?.reached() ?? 0) >= 1)
    const thread = svc.storage.sqlite?.readThread?.worker()
    expect(thread).toBeDefined()
    await thread?.terminate()

    expect(await list.promise).toEqual({
      status: 503,
      body: { error: 'the event store is unavailable; retry later' },
    })
    expect(svc.logs.join('')).toContain("the admin's read thread stopped")
    expect((await postStripe(svc.url, stripeEvent())).status).toBe(200)

    held.release()
    const again = await adminGet<EventPage>(svc.url, '/admin/api/events')
    expect(again.status).toBe(200)
    expect(again.body.events).toHaveLength(1)
    expect(svc.storage.sqlite?.readThread?.worker()).not.toBe(thread)
  })

  it('does not hold a stop: a read still running is answered 503, a delivery in flight gets its answer', async () => {
    held = hold()
    svc = await startTestService({
      adminReadHold: held.buffer,
      handlers: {
        'slow.ts': `export default { provider: 'stripe', events: '*', async handle() { await new Promise((r) => setTimeout(r, 300)) } }`,
      },
    })
    const list = track(adminGet(svc.url, '/admin/api/events'))
    await until(() => (held?.reached() ?? 0) >= 1)
    const delivery = postStripe(svc.url, stripeEvent())
    // In flight: verified and held by its handler.
    await untilPending(svc, 1)
    // The hold is never released: the stop must not wait for the read.
    await svc.close()
    expect(await list.promise).toEqual({
      status: 503,
      body: { error: 'the event store is unavailable; retry later' },
    })
    expect((await delivery).body).toEqual({ received: true, duplicate: false, status: 'processed' })
  })

  it('starts the thread with the service when ADMIN_TOKEN is set', async () => {
    svc = await startTestService()
    expect(svc.storage.sqlite?.readThread?.worker()).toBeDefined()
  })

  it('starts no thread without ADMIN_TOKEN, for deliveries or a /metrics scrape', async () => {
    svc = await startTestService({ env: { ADMIN_TOKEN: '' } })
    expect((await postStripe(svc.url, stripeEvent())).status).toBe(200)
    expect((await fetch(`${svc.url}/metrics`)).status).toBe(200)
    expect(svc.storage.sqlite?.readThread).toBeDefined()
    expect(svc.storage.sqlite?.readThread?.worker()).toBeUndefined()
  })
})

describe("the admin's read connection", () => {
  const dir = tempDir('read-thread')
  afterEach(() => dir.remove())

  it('reads what the writer committed, refuses to write, and passes on SQLite error codes', async () => {
    const db = openSqlite({ path: join(dir.path, 'r.db'), synchronous: 'NORMAL' })
    try {
      const { events } = sqliteTables
      db.writer
        .prepare(
          `INSERT INTO hookinbox_events (provider, event_id, type, status, attempts, payload, received_at)
           VALUES ('stripe', 'evt_1', 'invoice.paid', 'processed', 1, '{"a":1}', 1700000000000)`,
        )
        .run()
      const [row] = await db.adminReader
        .select({ eventId: events.eventId, receivedAt: events.receivedAt, payload: events.payload })
        .from(events)
        .where(eq(events.eventId, 'evt_1'))
      expect(row).toEqual({ eventId: 'evt_1', receivedAt: new Date(1700000000000), payload: '{"a":1}' })

      const write = db.adminReader.update(events).set({ attempts: 9 }).where(eq(events.eventId, 'evt_1'))
      const err = await Promise.resolve(write).catch((e: unknown) => e)
      expect(inErrorChain(err, (e) => e.code === 'SQLITE_READONLY')).toBe(true)
      expect(db.reader.prepare('SELECT attempts FROM hookinbox_events').get()).toEqual({ attempts: 1 })
    } finally {
      await db.close()
    }
  })

  // Scripts that use the thread and never close the database: Node must wait for an answer that is out (else
  // it exits with 13, "unsettled top-level await"), and then exit by itself (an idle thread that kept it alive
  // would hang it, as one started and never used would).
  it.each([
    [
      'keeps a process alive while a query is out, and lets it exit once idle',
      'const rows = await db.adminReader.select().from(sqliteTables.events)\nconsole.log("read", rows.length)',
      'read 0',
    ],
    [
      'lets a process exit when the thread was started and never used',
      'db.readThread?.start()\nconsole.log("started", db.readThread?.worker() !== undefined)',
      'started true',
    ],
  ])('%s', async (_, body, printed) => {
    mkdirSync(dir.path, { recursive: true })
    const script = join(dir.path, 'use-and-leave.mts')
    writeFileSync(
      script,
      `import { openSqlite } from ${JSON.stringify(join(PROJECT_ROOT, 'src/db/sqlite.ts'))}
import { sqliteTables } from ${JSON.stringify(join(PROJECT_ROOT, 'src/db/tables.ts'))}
const db = openSqlite({ path: ${JSON.stringify(join(dir.path, 'alive.db'))}, synchronous: 'NORMAL' })
void sqliteTables
${body}
`,
    )
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: PROJECT_ROOT })
    let out = ''
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
    })
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString()
    })
    const hung = setTimeout(() => child.kill('SIGKILL'), 20_000)
    const code = await new Promise((resolve) => child.once('exit', (c, signal) => resolve(c ?? signal)))
    clearTimeout(hung)
    expect({ code, out: out.trim() }).toEqual({ code: 0, out: printed })
  })

  it('ends the thread when the database closes', async () => {
    const db = openSqlite({ path: join(dir.path, 'e.db'), synchronous: 'NORMAL' })
    db.readThread?.start()
    const thread = db.readThread?.worker()
    expect(thread).toBeDefined()
    const exited = new Promise((resolve) => thread?.once('exit', resolve))
    await db.close()
    // Resolved only by the thread's exit, which close() waited for.
    expect(typeof (await exited)).toBe('number')
    expect(db.readThread?.worker()).toBeUndefined()
  })

  it('fails the queries still out at once when stopped, not once SQLite ends the statement it runs', async () => {
    const db = openSqlite({ path: join(dir.path, 's.db'), synchronous: 'NORMAL' })
    try {
      const order: string[] = []
      db.readThread?.start()
      db.readThread?.worker()?.once('exit', () => order.push('thread exited'))
      // A statement that runs for seconds inside SQLite, where terminating the thread cannot interrupt it.
      const long = Promise.resolve(
        db.adminReader.all(
          sql`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000000) SELECT count(*) FROM n`,
        ),
      ).then(
        () => order.push('answered'),
        (err: unknown) =>
          order.push(inErrorChain(err, (e) => e.code === READ_THREAD_STOPPED) ? 'failed' : 'other'),
      )
      await new Promise((r) => setTimeout(r, 100))
      db.readThread?.stop()
      await long
      expect(order).toEqual(['failed'])
    } finally {
      await db.close()
    }
  })

  it('fails queries made after it closed, as the database being unavailable', async () => {
    const db = openSqlite({ path: join(dir.path, 'c.db'), synchronous: 'NORMAL' })
    await db.adminReader.select().from(sqliteTables.events)
    await db.close()
    const err = await Promise.resolve(db.adminReader.select().from(sqliteTables.events)).catch(
      (e: unknown) => e,
    )
    expect(inErrorChain(err, (e) => e.code === 'HOOKINBOX_READ_THREAD_STOPPED')).toBe(true)
  })
})
