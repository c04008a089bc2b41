/**
 * PayPal transmissions bound to their bodies on PostgreSQL: two instances (two pools on one schema) receive
 * the same signed transmission with two different bodies at the same moment; exactly one body is accepted,
 * wherever it arrived, and the other is refused everywhere.
 */
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openPostgres, type PostgresDatabase } from '../../src/db/postgres.ts'
import { isAppError } from '../../src/errors.ts'
import { createPgInbox } from '../../src/inbox/pg-inbox.ts'
import type { VerifiedEvent } from '../../src/providers/provider.ts'
import { createHandlerRegistry, type LoadedHandler } from '../../src/registry/handler-registry.ts'
import { freshSchema, type PgSchema, postgresAvailable } from '../support/postgres.ts'

describe.skipIf(!postgresAvailable)('PayPal transmissions on PostgreSQL', () => {
  let schema: PgSchema
  const databases: PostgresDatabase[] = []
  let runs = 0
  const handler = {
    name: 'count',
    file: 'inline',
    provider: 'paypal',
    events: '*',
    handle: () => void runs++,
  }

  beforeAll(async () => {
    schema = await freshSchema('tx')
    for (let i = 0; i < 2; i++) databases.push(await openPostgres({ url: schema.url, poolSize: 4 }))
  })
  afterAll(async () => {
    for (const d of databases) await d.close()
    await schema?.drop()
  })

  const event = (id: string, transmissionId: string, bodySha256: string): VerifiedEvent => ({
    provider: 'paypal',
    id,
    type: 'PAYMENT.CAPTURE.COMPLETED',
    payload: { id },
    transmission: { id: transmissionId, bodySha256 },
  })

  it('one transmission with two bodies at once, on two instances: one body is accepted, the other refused', async () => {
    const inboxes = databases.map((database) =>
      createPgInbox({
        database,
        registry: createHandlerRegistry([handler as unknown as LoadedHandler]),
        log: pino({ level: 'silent' }),
        handlerTimeoutMs: 5000,
        maxAttempts: 3,
      }),
    )
    const bodies = [
      { id: 'WH-A', sha: 'a'.repeat(64) },
      { id: 'WH-B', sha: 'b'.repeat(64) },
    ]
    const sends = Array.from({ length: 16 }, (_, i) => ({
      inbox: inboxes[i % 2],
      body: bodies[(i >> 1) % 2],
    }))
    const results = await Promise.allSettled(
      sends.map((s) => s.inbox?.receive(event(s.body?.id ?? '', 'T-1', s.body?.sha ?? ''), new Date())),
    )
    const acceptedIds = new Set(
      results.flatMap((r, i) => (r.status === 'fulfilled' ? [sends[i]?.body?.id] : [])),
    )
    expect(acceptedIds.size).toBe(1)
    for (const r of results) {
      if (r.status === 'rejected') expect(isAppError(r.reason) && r.reason.reason).toBe('transmission_reused')
    }
    expect(runs).toBe(1)
    const stored = await schema.query<{ event_id: string }>('SELECT event_id FROM hookinbox_events')
    expect(stored.map((r) => r.event_id)).toEqual([...acceptedIds])
    for (const inbox of inboxes) await inbox.close()
  })
})
