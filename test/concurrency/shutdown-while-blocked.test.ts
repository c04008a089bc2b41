/**
 * SIGTERM while a handler blocks the event loop. Connections opened meanwhile are completed by the kernel and
 * their requests sent in full, but Node has not accepted them yet; they wait in the listen queue. Closing the
 * listener then would reset them (a provider sees a broken connection for a request it sent before the signal).
 * The service accepts what is queued before it closes, so each of them gets its real answer.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { killIfRunning, type SpawnedService, spawnService } from '../support/spawn-service.ts'
import { STRIPE_SECRET, stripeEvent, stripeSignature } from '../support/stripe-signing.ts'
import { tempDir } from '../support/temp-dir.ts'
import { post, sleep } from './support/http-client.ts'

const QUEUED = 6

describe('shutdown while a handler blocks the event loop (real process)', () => {
  const dir = tempDir('blocked')
  let svc: SpawnedService | undefined
  afterAll(async () => {
    await killIfRunning(svc)
    dir.remove()
  })

  it('answers the requests that were queued when the signal came, then exits 0', async () => {
    const handlersDir = join(dir.path, 'handlers')
    mkdirSync(handlersDir)
    const blocking = join(dir.path, 'blocking')
    // A synchronous wait: nothing else runs in the process for that second, not even accepting connections.
    writeFileSync(
      join(handlersDir, 'block.ts'),
      `import { writeFileSync } from 'node:fs'

export default {
  provider: 'stripe',
  events: ['test.block'],
  handle() {
    writeFileSync(process.env.BLOCKING_FILE, '')
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500)
  },
}
`,
    )
    const dbPath = join(dir.path, 'hookinbox.db')
    const service = await spawnService({
      DATABASE_URL: dbPath,
      HANDLERS_DIR: handlersDir,
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      BLOCKING_FILE: blocking,
    })
    svc = service
    const send = (event: Record<string, unknown>) => {
      const body = JSON.stringify(event)
      return post(`${service.url}/webhooks/stripe`, body, {
        'content-type': 'application/json',
        'stripe-signature': stripeSignature(body),
      })
    }

    const blocker = stripeEvent({ type: 'test.block' })
    const first = send(blocker)
    for (let i = 0; !existsSync(blocking); i++) {
      if (i > 500) throw new Error(`the blocking handler never started:\n${service.output()}`)
      await sleep(10)
    }
    const queued = Array.from({ length: QUEUED }, () => stripeEvent({ type: 'test.queued' }))
    const answers = queued.map(send)
    // Long enough for every request to be written to its (kernel-accepted) connection; the loop is still blocked.
    await sleep(300)
    service.proc.kill('SIGTERM')

    const results = await Promise.all([first, ...answers])
    expect(results.map((r) => (r.kind === 'response' ? r.status : r.code))).toEqual(
      Array.from({ length: QUEUED + 1 }, () => 200),
    )
    expect(await service.exited).toEqual({ code: 0, signal: null })
    const db = new Database(dbPath, { readonly: true })
    const stored = db.prepare('SELECT event_id FROM hookinbox_events').all() as Array<{ event_id: string }>
    db.close()
    expect(stored.map((r) => r.event_id).sort()).toEqual([blocker, ...queued].map((e) => e.id).sort())
  })
})
