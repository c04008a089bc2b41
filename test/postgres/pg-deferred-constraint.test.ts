/**
 * On PostgreSQL a DEFERRABLE INITIALLY DEFERRED key broken by a handler is found at COMMIT, which rolls the
 * delivery's transaction back. The attempt is then recorded as failed without running the handlers again, so
 * that the event is retried and parked after MAX_ATTEMPTS instead of answering 503 for ever.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  freshSchema,
  type PgSchema,
  pgEffectCount,
  pgEffectHandler,
  pgStoredEvent,
  postgresAvailable,
} from '../support/postgres.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { startTestService, type TestService } from '../support/test-service.ts'

describe.skipIf(!postgresAvailable)('a deferred foreign key broken by a handler, on PostgreSQL', () => {
  let schema: PgSchema
  let svc: TestService
  const effects = (id: string) => pgEffectCount(schema, id)
  const row = (id: string) => pgStoredEvent(schema, id)

  beforeAll(async () => {
    schema = await freshSchema('deferred')
    await schema.query(`CREATE TABLE parent (id INT PRIMARY KEY);
      CREATE TABLE child (id SERIAL PRIMARY KEY,
        parent_id INT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)`)
    svc = await startTestService({
      env: { DATABASE_URL: schema.url, MAX_ATTEMPTS: '2' },
      handlers: {
        'fk.ts': pgEffectHandler({
          events: "['test.orphan', 'test.ok']",
          extra:
            "if (event.type === 'test.orphan') await ctx.tx.execute(sql`INSERT INTO child (parent_id) VALUES (999)`)",
        }),
      },
    })
  })
  afterAll(async () => {
    await svc?.dispose()
    await schema?.drop()
  })

  it('fails the attempt, parks the event after MAX_ATTEMPTS, and leaves nothing of its handlers', async () => {
    const orphan = stripeEvent({ type: 'test.orphan' })
    const first = await postStripe(svc.url, orphan)
    expect(first.status).toBe(500)
    expect(await row(orphan.id as string)).toMatchObject({ status: 'failed', attempts: 1 })
    expect((await row(orphan.id as string))?.last_error).toContain('violates foreign key constraint')
    expect((await postStripe(svc.url, orphan)).body).toEqual({
      received: true,
      duplicate: false,
      status: 'parked',
    })
    expect(await row(orphan.id as string)).toMatchObject({ status: 'parked', attempts: 2 })
    expect(await effects(orphan.id as string)).toBe(0)
    expect(await schema.query('SELECT * FROM child')).toEqual([])

    const ok = stripeEvent({ type: 'test.ok' })
    expect((await postStripe(svc.url, ok)).status).toBe(200)
    expect(await effects(ok.id as string)).toBe(1)
  })
})
