import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { openSqlite, type SqliteDatabase } from '../../src/db/sqlite.ts'
import type { Handler } from '../../src/handlers.ts'
import { createSqliteInbox } from '../../src/inbox/sqlite-inbox.ts'
import type { VerifiedEvent } from '../../src/providers/provider.ts'
import { createHandlerRegistry, type LoadedHandler } from '../../src/registry/handler-registry.ts'
import { tempDir } from '../support/temp-dir.ts'
import { EFFECTS_TABLE_SQL } from '../support/test-service.ts'

const event = (id: string, type: string): VerifiedEvent => ({
  provider: 'stripe',
  id,
  type,
  payload: { id, type },
})

describe('group commit', () => {
  const cleanups: Array<() => void> = []
  afterEach(() => {
    for (const c of cleanups.splice(0)) c()
  })

  function setup(handlers: Handler[]) {
    const dir = tempDir('group')
    const db: SqliteDatabase = openSqlite({ path: join(dir.path, 'db.sqlite'), synchronous: 'FULL' })
    db.writer.exec(EFFECTS_TABLE_SQL)
    cleanups.push(() => {
      db.close()
      dir.remove()
    })
    const batches: number[] = []
    const loaded = handlers.map(
      (h, i) => ({ ...h, name: h.name ?? `h${i}`, file: 'inline' }) as LoadedHandler,
    )
    const inbox = createSqliteInbox({
      db,
      registry: createHandlerRegistry(loaded),
      log: pino({ level: 'silent' }),
      handlerTimeoutMs: 5000,
      maxAttempts: 5,
      onBatch: (n) => batches.push(n),
    })
    return { db, inbox, batches }
  }

  it('a batch containing one failing handler commits every other event of the batch and fails only that one', async () => {
    let open: () => void = () => {}
    const gate = new Promise<void>((resolve) => {
      open = resolve
    })
    const { db, inbox, batches } = setup([
      {
        provider: 'stripe',
        events: '*',
        async handle(e, ctx) {
          ctx.tx.run(sql`INSERT INTO test_effects (event_id, handler) VALUES (${e.id}, 'effect')`)
          if (e.type === 'hold') await gate
          if (e.type === 'fail') throw new Error('this one fails')
        },
      },
    ])
    // Six deliveries arriving together are written as one batch (the first holds it open for a moment).
    const first = inbox.receive(event('e0', 'hold'), new Date())
    const rest = ['ok', 'ok', 'fail', 'ok', 'ok'].map((type, i) =>
      inbox.receive(event(`e${i + 1}`, type), new Date()),
    )
    open()
    const outcomes = await Promise.all([first, ...rest])
    expect(batches).toEqual([6])
    expect(outcomes.map((o) => o.status)).toEqual([
      'processed',
      'processed',
      'processed',
      'failed',
      'processed',
      'processed',
    ])
    const effects = db.reader.prepare('SELECT event_id FROM test_effects ORDER BY event_id').all() as Array<{
      event_id: string
    }>
    expect(effects.map((r) => r.event_id)).toEqual(['e0', 'e1', 'e2', 'e4', 'e5'])
    const failed = db.reader
      .prepare("SELECT event_id, attempts FROM hookinbox_events WHERE status = 'failed'")
      .all()
    expect(failed).toEqual([{ event_id: 'e3', attempts: 1 }])
  })

  it('a lone delivery is written at once, without waiting for company', async () => {
    const { inbox, batches } = setup([])
    const outcome = await inbox.receive(event('solo', 'x'), new Date())
    expect(outcome).toMatchObject({ status: 'ignored', duplicate: false })
    expect(batches).toEqual([1])
  })

  it('duplicates of settled events are answered from the read connection without a write batch', async () => {
    const { inbox, batches } = setup([])
    await inbox.receive(event('once', 'x'), new Date())
    const again = await inbox.receive(event('once', 'x'), new Date())
    expect(again).toMatchObject({ status: 'ignored', duplicate: true })
    expect(batches).toEqual([1])
  })
})
