/**
 * A client that hangs up before its body is complete is its own doing: anyone can do it at will, so it must
 * not produce error-level "unexpected error" lines with a stack (alert noise), only a debug line. A body read
 * that fails while the client is still connected is still an internal error, logged at error level.
 */
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { EventHistory } from '../../src/admin/event-history.ts'
import { createApp } from '../../src/app.ts'
import type { Inbox } from '../../src/inbox/inbox.ts'
import { createLogger } from '../../src/logger.ts'
import type { Provider } from '../../src/providers/provider.ts'
import { type HostileService, open, send, startHostileService } from './support.ts'

interface LogLine {
  level: number
  msg?: string
  reason?: string
  err?: unknown
}

const ABORTED = 'delivery aborted by the client'

describe('over HTTP', () => {
  let env: HostileService
  beforeAll(async () => {
    env = await startHostileService()
  })
  afterAll(async () => {
    await env?.dispose()
  })

  const uploads: Array<{ name: string; headers: Array<[string, string]>; body: string }> = [
    { name: 'with a Content-Length', headers: [['Content-Length', '1000']], body: '{"id":"x"' },
    { name: 'chunked', headers: [['Transfer-Encoding', 'chunked']], body: '10\r\n{"id":"x"' },
  ]

  for (const upload of uploads) {
    it(`an upload ${upload.name} cut short by the client is logged at debug, not as an error`, async () => {
      const before = env.svc.logs.length
      const linesSince = () => env.svc.logs.slice(before).map((l) => JSON.parse(l) as LogLine)
      const exchange = open(env.svc.url, {
        path: '/webhooks/stripe',
        headers: [...upload.headers, ['Stripe-Signature', 't=1,v1=aa']],
        body: Buffer.from(upload.body),
      })
      await exchange.sent
      exchange.close()

      // The service's one line about the upload: the debug line, or (the bug) an error-level one.
      await vi.waitFor(
        () => expect(linesSince().some((l) => l.msg === ABORTED || l.level >= 50)).toBe(true),
        { timeout: 5000, interval: 20 },
      )
      expect((await send(env.svc.url, { method: 'GET', path: '/healthz', headers: [] })).status).toBe(200)
      expect(linesSince().filter((l) => l.level >= 50)).toEqual([])
      const aborted = linesSince().filter((l) => l.msg === ABORTED)
      expect(aborted).toHaveLength(1)
      expect(aborted[0]).toMatchObject({ level: 20, reason: 'client_aborted' })
      expect(aborted[0]).not.toHaveProperty('err')
    })
  }
})

describe('in process', () => {
  function appWithLogs() {
    const logs: LogLine[] = []
    const sink = new Writable({
      write(chunk, _enc, cb) {
        logs.push(JSON.parse(String(chunk)) as LogLine)
        cb()
      },
    })
    const app = createApp({
      // The body read fails first: none of these is reached.
      providers: { stripe: {} as Provider },
      inbox: {} as Inbox,
      history: {} as EventHistory,
      log: createLogger('debug', sink),
      maxBodyBytes: 1024,
      adminToken: undefined,
      ready: async () => true,
    })
    return { app, logs }
  }

  /** A delivery whose body stream fails with `reason`, on a connection in the given state. */
  const failingDelivery = (
    app: ReturnType<typeof createApp>,
    reason: unknown,
    incoming: { complete: boolean; destroyed: boolean },
  ) =>
    app.request(
      'http://localhost/webhooks/stripe',
      {
        method: 'POST',
        body: new ReadableStream({ pull: (controller) => controller.error(reason) }),
        duplex: 'half',
      } as RequestInit,
      { incoming },
    )

  it('a body read that fails while the client is still connected is an internal error, logged as such', async () => {
    const { app, logs } = appWithLogs()
    const res = await failingDelivery(app, new Error('aborted'), { complete: false, destroyed: false })
    expect(res.status).toBe(500)
    expect(logs.filter((l) => l.level >= 50).map((l) => l.msg)).toEqual(['unexpected error'])
    expect(logs.some((l) => l.msg === ABORTED)).toBe(false)
  })

  it('a hang-up is told from the connection, whatever the read rejected with (here a bare string)', async () => {
    const { app, logs } = appWithLogs()
    const res = await failingDelivery(app, 'Error: aborted', { complete: false, destroyed: true })
    expect(res.status).toBe(400)
    expect(logs.filter((l) => l.level >= 40)).toEqual([])
    expect(logs.filter((l) => l.msg === ABORTED)).toHaveLength(1)
  })
})
