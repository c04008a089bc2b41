/**
 * Slowloris: the `slow-body` and `slow-headers` cases of the corpus. A client that trickles its request
 * (1 byte, or one header line, per 100 ms) must not hold a connection open for long: the server has to
 * answer (Node's 408) or close the connection within SLOW_CLIENT_BOUND_MS, and keep serving others meanwhile.
 *
 * This needs the HTTP server's `requestTimeout`/`headersTimeout` set to about 10 s and its
 * `connectionsCheckingInterval` lowered to about 1 s (Node checks the timeouts only at that interval,
 * 30 s by default). With Node's defaults (300 s / 60 s / 30 s) these tests fail: see SECURITY.md.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadCases } from './corpus.ts'
import { eventCount, type HostileService, open, send, startHostileService } from './support.ts'

/** The longest a trickling client may keep one request open. */
const SLOW_CLIENT_BOUND_MS = 15_000
const TRICKLE_EVERY_MS = 100

const slowCases = loadCases().filter((c) => c.special === 'slow-body' || c.special === 'slow-headers')

let env: HostileService
beforeAll(async () => {
  env = await startHostileService()
})
afterAll(async () => {
  await env?.dispose()
})

describe('slow clients are cut off', () => {
  it('the corpus has both slow cases', () => {
    expect(slowCases.map((c) => c.special).sort()).toEqual(['slow-body', 'slow-headers'])
  })

  for (const c of slowCases) {
    it.concurrent(
      c.name,
      async () => {
        const started = Date.now()
        const eventsBefore = eventCount(env.svc)
        const exchange =
          c.special === 'slow-body'
            ? open(
                env.svc.url,
                {
                  path: '/webhooks/stripe',
                  headers: [
                    ['Content-Type', 'application/json'],
                    ['Stripe-Signature', 't=1,v1=00'],
                    ['Content-Length', '100000'],
                  ],
                },
                SLOW_CLIENT_BOUND_MS,
              )
            : open(
                env.svc.url,
                // The head is never finished: one more header line every tick.
                { path: '/webhooks/stripe', headers: [['Content-Type', 'application/json']], openHead: true },
                SLOW_CLIENT_BOUND_MS,
              )
        let ticks = 0
        const trickle = setInterval(() => {
          ticks += 1
          exchange.write(c.special === 'slow-body' ? ' ' : `X-Slow-${ticks}: 1\r\n`)
        }, TRICKLE_EVERY_MS)
        try {
          // Others are still served while the slow client holds its connection.
          await new Promise((resolve) => setTimeout(resolve, 500))
          const health = await send(env.svc.url, { method: 'GET', path: '/healthz', headers: [] }, 2000)
          expect(health.status).toBe(200)

          const answer = await exchange.reply
          const elapsed = Date.now() - started
          expect(answer.error, `still open after ${elapsed} ms`).not.toBe('client timeout')
          expect(elapsed).toBeLessThan(SLOW_CLIENT_BOUND_MS)
          // Node answers 408 (or just closes the connection, status 0).
          expect([0, 408]).toContain(answer.status)
          expect(eventCount(env.svc)).toBe(eventsBefore)
        } finally {
          clearInterval(trickle)
          exchange.close()
        }
      },
      SLOW_CLIENT_BOUND_MS + 5_000,
    )
  }
})
