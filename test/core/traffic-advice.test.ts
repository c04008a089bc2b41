/**
 * Warnings only the traffic can prompt (src/webhooks/traffic-advice.ts), with the clock pinned: Adyen still
 * sending the previous Basic credentials (at most once a minute, with the count since the last warning), and
 * Stripe test-mode events running beside live ones (once).
 */
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../src/logger.ts'
import type { VerifiedEvent } from '../../src/providers/provider.ts'
import { createTrafficAdvice } from '../../src/webhooks/traffic-advice.ts'

function advised() {
  const lines: Array<{ level: number; msg: string; deliveries?: number }> = []
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(JSON.parse(String(chunk)))
      cb()
    },
  })
  let now = Date.parse('2026-11-28T12:00:00Z')
  const advice = createTrafficAdvice(createLogger('info', sink), () => new Date(now))
  return {
    advice,
    warnings: () => lines.filter((l) => l.level === 40),
    tick: (ms: number) => {
      now += ms
    },
  }
}

const adyen = (previous: boolean): VerifiedEvent => ({
  provider: 'adyen',
  id: 'TestMerchant:PSP1:AUTHORISATION:true:',
  type: 'AUTHORISATION',
  payload: {},
  ...(previous ? { previousBasicAuth: true } : {}),
})
const stripe = (livemode: boolean | undefined, skip = false): VerifiedEvent => ({
  provider: 'stripe',
  id: 'evt_1',
  type: 'charge.succeeded',
  payload: {},
  ...(livemode === undefined ? {} : { livemode }),
  ...(skip ? { skip: 'test_mode' as const } : {}),
})

describe('traffic advice', () => {
  it('warns while Adyen sends the previous credentials, at most once a minute, counting deliveries', async () => {
    const { advice, warnings, tick } = advised()
    advice.verified([adyen(false)])
    expect(warnings()).toHaveLength(0)
    advice.verified([adyen(true), adyen(true)])
    expect(warnings().map((w) => w.deliveries)).toEqual([1])
    expect(warnings()[0]?.msg).toMatch(/ADYEN_BASIC_AUTH_PREVIOUS/)
    tick(30_000)
    advice.verified([adyen(true)])
    advice.verified([adyen(true)])
    expect(warnings()).toHaveLength(1)
    tick(30_000)
    advice.verified([adyen(true)])
    expect(warnings().map((w) => w.deliveries)).toEqual([1, 3])
    tick(600_000)
    advice.verified([adyen(false)])
    expect(warnings()).toHaveLength(2)
  })

  it('warns once when Stripe test-mode events run beside live ones, in either order', async () => {
    for (const order of [
      [true, false],
      [false, true],
    ]) {
      const { advice, warnings } = advised()
      advice.verified([stripe(order[0])])
      expect(warnings()).toHaveLength(0)
      advice.verified([stripe(order[1])])
      advice.verified([stripe(false)])
      advice.verified([stripe(true)])
      expect(warnings().map((w) => w.msg)).toEqual([expect.stringMatching(/STRIPE_TEST_EVENTS=skip/)])
    }
  })

  it('says nothing about Stripe when test-mode events are skipped, or do not say their mode', async () => {
    const { advice, warnings } = advised()
    advice.verified([stripe(true)])
    advice.verified([stripe(false, true)])
    advice.verified([stripe(undefined)])
    expect(warnings()).toHaveLength(0)
  })
})
