import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { spawnService } from '../support/spawn-service.ts'
import { postStripe, STRIPE_SECRET, stripeEvent } from '../support/stripe-signing.ts'
import { tempDir } from '../support/temp-dir.ts'
import { EFFECTS_TABLE_SQL, effectHandler } from '../support/test-service.ts'

describe('graceful shutdown of the real process', () => {
  const dir = tempDir('shutdown')
  afterAll(() => dir.remove())

  it('SIGTERM with deliveries in flight: each gets its real answer, nothing new is accepted, exit 0', async () => {
    const handlers = join(dir.path, 'handlers')
    mkdirSync(handlers)
    writeFileSync(
      join(handlers, 'slow.ts'),
      effectHandler({ extra: 'await new Promise((r) => setTimeout(r, 40))' }),
    )
    const dbPath = join(dir.path, 'db.sqlite')
    const pre = new Database(dbPath)
    pre.exec(EFFECTS_TABLE_SQL)
    pre.close()

    const svc = await spawnService({
      DATABASE_URL: dbPath,
      HANDLERS_DIR: handlers,
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    })
    const events = Array.from({ length: 20 }, () => stripeEvent())
    const inFlight = events.map((e) => postStripe(svc.url, e))
    await new Promise((r) => setTimeout(r, 150))
    svc.proc.kill('SIGTERM')
    const results = await Promise.all(inFlight)
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200))

    await new Promise((r) => setTimeout(r, 50))
    const late = await postStripe(svc.url, stripeEvent()).catch((err: Error) => err)
    expect(late).toBeInstanceOf(Error)

    const { code } = await svc.exited
    expect(code).toBe(0)
    expect(svc.output()).toMatch(/hookinbox stopped/)

    const db = new Database(dbPath, { readonly: true })
    const rows = db
      .prepare(
        `SELECT count(*) AS n FROM test_effects WHERE event_id IN (${events.map(() => '?').join(',')})`,
      )
      .get(...events.map((e) => e.id)) as { n: number }
    db.close()
    expect(rows.n).toBe(20)
  })
})
