import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import {
  ADMIN_TOKEN,
  effectCount,
  effectHandler,
  startTestService,
  storedEvent,
  type TestService,
} from '../support/test-service.ts'

const late = globalThis as { lateWrite?: Record<string, string> }

describe('a failing handler rolls back its own writes', () => {
  let svc: TestService
  const effects = (id: string) => effectCount(svc, id)
  const row = (id: string) => storedEvent(svc, id)

  beforeAll(async () => {
    late.lateWrite = {}
    svc = await startTestService({
      env: { MAX_ATTEMPTS: '3', HANDLER_TIMEOUT_MS: '300' },
      handlers: {
        'a-throws.ts': effectHandler({
          name: 'throws-after-insert',
          events: "['test.throws']",
          extra: "throw new Error('card declined by test handler')",
        }),
        'b-permanent.ts': `import { PermanentError } from '../../../../src/handlers.ts'
${effectHandler({ name: 'permanent', events: "['test.permanent']", extra: "throw new PermanentError('customer deleted')" })}`,
        'b-permanent-subclass.ts': `import { PermanentError } from '../../../../src/handlers.ts'
class CustomerGone extends PermanentError {
  constructor(id) {
    super(\`customer \${id} was deleted\`)
    this.name = 'CustomerGone'
  }
}
${effectHandler({ name: 'permanent-subclass', events: "['test.permanent-subclass']", extra: "throw new CustomerGone('cus_1')" })}`,
        'c-slow.ts': `import { sql } from 'drizzle-orm'
export default {
  name: 'slow',
  provider: 'stripe',
  events: ['test.slow'],
  async handle(event, ctx) {
    ctx.tx.run(sql\`INSERT INTO test_effects (event_id, handler) VALUES (\${event.id}, 'before-timeout')\`)
    await new Promise((r) => setTimeout(r, 700))
    try {
      ctx.tx.run(sql\`INSERT INTO test_effects (event_id, handler) VALUES (\${event.id}, 'after-timeout')\`)
      globalThis.lateWrite[event.id] = 'written'
    } catch (err) {
      globalThis.lateWrite[event.id] = (err.cause ?? err).name
    }
  },
}
`,
        'd-flaky.ts': `import { sql } from 'drizzle-orm'
let calls = 0
export default {
  provider: 'stripe',
  events: ['test.flaky'],
  async handle(event, ctx) {
    ctx.tx.run(sql\`INSERT INTO test_effects (event_id, handler) VALUES (\${event.id}, 'flaky')\`)
    if (++calls === 1) throw new Error('first call fails')
  },
}
`,
        'f-plain-objects.ts': `export default {
  provider: 'stripe',
  events: ['test.throws-object'],
  async handle(event) {
    // What some clients reject with: a plain object, not an Error.
    if (event.payload.data.object.shape === 'with-message') throw { code: 'card_declined', message: 'Your card was declined.' }
    throw { code: 'rate_limited', retryAfter: 3 }
  },
}
`,
        'f-odd-throw.ts': `import { sql } from 'drizzle-orm'
export default {
  provider: 'stripe',
  events: ['test.odd-throw'],
  async handle(event, ctx) {
    ctx.tx.run(sql\`INSERT INTO test_effects (event_id, handler) VALUES (\${event.id}, 'odd')\`)
    // String() of this throws a TypeError: it has no prototype, so no toString.
    throw Object.create(null)
  },
}
`,
        'g-iterating.ts': `import { sql } from 'drizzle-orm'
export default {
  provider: 'stripe',
  events: ['test.iterating', 'test.half-read'],
  async handle(event, ctx) {
    ctx.tx.run(sql\`INSERT INTO test_effects (event_id, handler) VALUES (\${event.id}, 'iterating')\`)
    const rows = ctx.tx.$client.prepare('SELECT event_id FROM test_effects').iterate()
    // Reads one row and leaves the iterator open, as a loop left by break-less early return would.
    if (event.type === 'test.half-read') return void rows.next()
    // Past HANDLER_TIMEOUT_MS with the iterator open.
    for (const _ of rows) await new Promise((r) => setTimeout(r, 700))
  },
}
`,
        'h-escape.ts': `import { sql } from 'drizzle-orm'
export default {
  provider: 'stripe',
  events: ['test.escape'],
  async handle(event, ctx) {
    // A statement's connection, kept past the timeout.
    const connection = ctx.tx.$client.prepare('SELECT 1').database
    await new Promise((r) => setTimeout(r, 700))
    try {
      connection.prepare(\`INSERT INTO test_effects (event_id, handler) VALUES ('\${event.id}', 'escaped')\`).run()
      globalThis.lateWrite[event.id] = 'written'
    } catch (err) {
      globalThis.lateWrite[event.id] = err.name
    }
  },
}
`,
        'e-inspect.ts': `export default {
  provider: 'stripe',
  events: ['test.inspect'],
  async handle(event, ctx) {
    // Destructured, detached from ctx, as handlers may use them.
    const { tx, log, isStale } = ctx
    globalThis.inspected = {
      keys: Object.keys(ctx).sort(),
      names: Object.getOwnPropertyNames(ctx).sort(),
      stale: [await isStale('obj_1', new Date(2000)), await isStale('obj_1', new Date(1000))],
      tx: typeof tx.run,
      log: typeof log.info,
      attempt: ctx.attempt,
    }
  },
}
`,
      },
    })
  })
  afterAll(() => svc.dispose())

  it('ctx gives handlers its documented members only, and they work detached from it', async () => {
    const event = stripeEvent({ type: 'test.inspect' })
    expect((await postStripe(svc.url, event)).status).toBe(200)
    const inspected = (globalThis as { inspected?: Record<string, unknown> }).inspected
    // Nothing that leads to the store (which could hand a timed-out handler a fresh transaction).
    expect(inspected?.keys).toEqual(['attempt', 'dialect', 'trigger'])
    expect(inspected?.names).toEqual(['attempt', 'dialect', 'trigger'])
    expect(inspected).toMatchObject({ stale: [false, true], tx: 'function', log: 'function', attempt: 1 })
  })

  it('a handler that inserts a row then throws: 500, the row is gone, status failed, attempt counted', async () => {
    const event = stripeEvent({ type: 'test.throws' })
    const res = await postStripe(svc.url, event)
    expect(res.status).toBe(500)
    expect((res.body as { error: string }).error).toMatch(/handler failed/)
    expect(res.text).not.toContain('card declined')
    expect(effects(event.id as string)).toBe(0)
    expect(row(event.id as string)).toMatchObject({ status: 'failed', attempts: 1 })
    expect(row(event.id as string)?.last_error).toContain('card declined by test handler')
  })

  it('a handler throwing a value that cannot be turned into text still fails its event, then parks it', async () => {
    const event = stripeEvent({ type: 'test.odd-throw' })
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) statuses.push((await postStripe(svc.url, event)).status)
    expect(statuses).toEqual([500, 500, 200])
    expect(effects(event.id as string)).toBe(0)
    expect(row(event.id as string)).toMatchObject({ status: 'parked', attempts: 3 })
    expect(row(event.id as string)?.last_error).toContain('cannot be shown as text')
  })

  it('a handler throwing a plain object records what it says, not "[object Object]"', async () => {
    const withMessage = stripeEvent({
      type: 'test.throws-object',
      data: { object: { shape: 'with-message' } },
    })
    expect((await postStripe(svc.url, withMessage)).status).toBe(500)
    expect(row(withMessage.id as string)?.last_error).toBe('f-plain-objects: Your card was declined.')
    const bare = stripeEvent({ type: 'test.throws-object', data: { object: { shape: 'bare' } } })
    expect((await postStripe(svc.url, bare)).status).toBe(500)
    expect(row(bare.id as string)?.last_error).toBe('f-plain-objects: {"code":"rate_limited","retryAfter":3}')
  })

  it('retries run the handlers again until MAX_ATTEMPTS, then the event is parked and acknowledged', async () => {
    const event = stripeEvent({ type: 'test.throws' })
    expect((await postStripe(svc.url, event)).status).toBe(500)
    expect((await postStripe(svc.url, event)).status).toBe(500)
    const third = await postStripe(svc.url, event)
    expect(third.status).toBe(200)
    expect(third.body).toEqual({ received: true, duplicate: false, status: 'parked' })
    expect(row(event.id as string)).toMatchObject({ status: 'parked', attempts: 3 })
    expect(effects(event.id as string)).toBe(0)
    // A parked event waits for an operator: further deliveries are duplicates that run nothing.
    const fourth = await postStripe(svc.url, event)
    expect(fourth.body).toEqual({ received: true, duplicate: true, status: 'parked' })
    const detail = await fetch(`${svc.url}/admin/api/events/stripe/${event.id}`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    }).then((r) => r.json())
    expect(detail.attemptLog.map((a: { outcome: string }) => a.outcome)).toEqual([
      'failed',
      'failed',
      'parked',
    ])
  })

  it('a PermanentError parks the event at once', async () => {
    const event = stripeEvent({ type: 'test.permanent' })
    const res = await postStripe(svc.url, event)
    expect(res.status).toBe(200)
    expect(res.body).toEqual({ received: true, duplicate: false, status: 'parked' })
    expect(row(event.id as string)).toMatchObject({ status: 'parked', attempts: 1 })
    expect(effects(event.id as string)).toBe(0)
  })

  it('a subclass of PermanentError with a name of its own parks the event at once too', async () => {
    const event = stripeEvent({ type: 'test.permanent-subclass' })
    const res = await postStripe(svc.url, event)
    expect(res.body).toEqual({ received: true, duplicate: false, status: 'parked' })
    expect(row(event.id as string)).toMatchObject({ status: 'parked', attempts: 1 })
    expect(row(event.id as string)?.last_error).toContain('customer cus_1 was deleted')
    expect(effects(event.id as string)).toBe(0)
  })

  it('a retry after a failure processes the event, keeping only the successful attempt’s writes', async () => {
    const event = stripeEvent({ type: 'test.flaky' })
    expect((await postStripe(svc.url, event)).status).toBe(500)
    const retry = await postStripe(svc.url, event)
    expect(retry.body).toEqual({ received: true, duplicate: false, status: 'processed' })
    expect(effects(event.id as string)).toBe(1)
    expect(row(event.id as string)).toMatchObject({ status: 'processed', attempts: 2, last_error: null })
  })

  it('a handler over HANDLER_TIMEOUT_MS fails, its writes roll back, and it cannot write afterwards', async () => {
    const event = stripeEvent({ type: 'test.slow' })
    const res = await postStripe(svc.url, event)
    expect(res.status).toBe(500)
    expect(row(event.id as string)?.last_error).toMatch(/timed out after 300 ms/)
    // Meanwhile other deliveries are not blocked by the abandoned handler.
    const other = stripeEvent({ type: 'test.permanent' })
    expect((await postStripe(svc.url, other)).status).toBe(200)
    await new Promise((r) => setTimeout(r, 800))
    expect(late.lateWrite?.[event.id as string]).toBe('RevokedTransactionError')
    expect(effects(event.id as string)).toBe(0)
  })

  it('a handler that times out inside an open iterator fails alone: the next deliveries are processed', async () => {
    const event = stripeEvent({ type: 'test.iterating' })
    expect((await postStripe(svc.url, event)).status).toBe(500)
    expect(row(event.id as string)).toMatchObject({ status: 'failed', attempts: 1 })
    expect(effects(event.id as string)).toBe(0)
    for (const type of ['test.permanent', 'test.flaky', 'test.flaky'])
      expect((await postStripe(svc.url, stripeEvent({ type }))).status).not.toBe(503)
  })

  it('a handler that returns with an iterator half read is processed, and so are the next deliveries', async () => {
    const event = stripeEvent({ type: 'test.half-read' })
    expect((await postStripe(svc.url, event)).body).toMatchObject({ status: 'processed' })
    expect(effects(event.id as string)).toBe(1)
    expect((await postStripe(svc.url, stripeEvent({ type: 'test.permanent' }))).status).toBe(200)
  })

  it("a handler cannot write after its timeout through a statement's connection either", async () => {
    const event = stripeEvent({ type: 'test.escape' })
    expect((await postStripe(svc.url, event)).status).toBe(500)
    await new Promise((r) => setTimeout(r, 800))
    expect(late.lateWrite?.[event.id as string]).toBe('RevokedTransactionError')
    expect(effects(event.id as string)).toBe(0)
  })
})
