/**
 * Several service instances on one PostgreSQL database: they migrate once, and the same event arriving at
 * two instances at the same moment has exactly one effect, whichever way the first transaction ends.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PG_MIGRATIONS } from '../../src/db/postgres.ts'
import {
  freshSchema,
  type PgSchema,
  pgEffectHandler,
  postgresAvailable,
  urlWithSchema,
} from '../support/postgres.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { startTcpProxy } from '../support/tcp-proxy.ts'
import { startTestService, type TestService } from '../support/test-service.ts'

const ctl = globalThis as { pgKill?: Set<string> }

describe.skipIf(!postgresAvailable)('several instances on one PostgreSQL database', () => {
  let schema: PgSchema
  let a: TestService
  let b: TestService
  const handlers = {
    'effect.ts': pgEffectHandler({
      extra: `await new Promise((r) => setTimeout(r, 150))
    if (globalThis.pgKill.has(event.id)) {
      globalThis.pgKill.delete(event.id)
      // The connection dies mid-transaction: PostgreSQL rolls the whole transaction back.
      await ctx.tx.execute(sql\`SELECT pg_terminate_backend(pg_backend_pid())\`)
    }`,
    }),
  }
  const effects = async (id: string) =>
    Number(
      (
        await schema.query<{ n: string }>('SELECT count(*) AS n FROM test_effects WHERE event_id = $1', [id])
      )[0]?.n,
    )

  beforeAll(async () => {
    ctl.pgKill = new Set()
    schema = await freshSchema()
    // Three instances starting together: the advisory lock makes the migrations run once.
    const started = await Promise.all(
      [1, 2, 3].map(() => startTestService({ env: { DATABASE_URL: schema.url }, handlers })),
    )
    ;[a, b] = started as [TestService, TestService]
    await started[2]?.dispose()
  })
  afterAll(async () => {
    await a?.dispose()
    await b?.dispose()
    await schema?.drop()
  })

  it('applied each migration exactly once', async () => {
    const rows = await schema.query<{ n: string }>(
      `SELECT count(*) AS n FROM "${schema.name}".__drizzle_migrations`,
    )
    const journal = JSON.parse(readFileSync(join(PG_MIGRATIONS, 'meta', '_journal.json'), 'utf8')) as {
      entries: unknown[]
    }
    expect(Number(rows[0]?.n)).toBe(journal.entries.length)
  })

  it('the same event at two instances at once: one effect, both 200, no 500 for the loser', async () => {
    for (let round = 0; round < 5; round++) {
      const event = stripeEvent()
      const results = await Promise.all([
        postStripe(a.url, event),
        postStripe(b.url, event),
        postStripe(a.url, event),
        postStripe(b.url, event),
      ])
      expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200])
      expect(results.filter((r) => (r.body as { duplicate: boolean }).duplicate === false)).toHaveLength(1)
      expect(await effects(event.id as string)).toBe(1)
    }
  })

  it('if the first instance’s transaction rolls back, the waiting one processes the event', async () => {
    const event = stripeEvent()
    ctl.pgKill?.add(event.id as string)
    const first = postStripe(a.url, event)
    await new Promise((r) => setTimeout(r, 40))
    const second = postStripe(b.url, event)
    const [r1, r2] = await Promise.all([first, second])
    // One of them lost its connection mid-transaction (503, the provider retries); the other processed it.
    expect([r1.status, r2.status].sort()).toEqual([200, 503])
    const ok = r1.status === 200 ? r1 : r2
    expect(ok.body).toEqual({ received: true, duplicate: false, status: 'processed' })
    expect(await effects(event.id as string)).toBe(1)
    // The provider's retry of the 503 is a duplicate.
    expect((await postStripe(a.url, event)).body).toMatchObject({ duplicate: true })
  })

  it('a lost database connection: /readyz and webhooks answer 503, and both recover when it returns', async () => {
    const target = new URL(process.env.TEST_DATABASE_URL as string)
    const proxy = await startTcpProxy(target.hostname, Number(target.port || 5432))
    const viaProxy = new URL(urlWithSchema(process.env.TEST_DATABASE_URL as string, schema.name))
    viaProxy.port = String(proxy.port)
    const svc = await startTestService({ env: { DATABASE_URL: viaProxy.toString() }, handlers })
    try {
      expect((await fetch(`${svc.url}/readyz`)).status).toBe(200)
      await proxy.cut()
      expect((await fetch(`${svc.url}/readyz`)).status).toBe(503)
      const event = stripeEvent()
      const down = await postStripe(svc.url, event)
      expect(down.status).toBe(503)
      expect(down.body).toEqual({ error: 'the event store is unavailable; retry later' })
      await proxy.restore()
      expect((await fetch(`${svc.url}/readyz`)).status).toBe(200)
      expect((await postStripe(svc.url, event)).body).toEqual({
        received: true,
        duplicate: false,
        status: 'processed',
      })
      expect(await effects(event.id as string)).toBe(1)
    } finally {
      await svc.dispose()
      await proxy.close()
    }
  })
})
