/**
 * Three real service processes on one PostgreSQL database, thousands of distinct events plus duplicates
 * spread across all three at once, one instance killed with SIGKILL mid-way and its deliveries retried on
 * the others, as a provider would: every event ends with exactly one effect.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freshSchema, type PgSchema, pgEffectHandler, postgresAvailable } from '../support/postgres.ts'
import { type SpawnedService, spawnService } from '../support/spawn-service.ts'
import { postStripe, STRIPE_SECRET, stripeEvent } from '../support/stripe-signing.ts'
import { tempDir } from '../support/temp-dir.ts'

const EVENTS = 2000
/** A password in the URL's query string (node-postgres reads it; trust auth ignores it): never logged. */
const QUERY_PASSWORD = `query-password-${Date.now().toString(36)}`
const DUPLICATE_SHARE = 0.2
const CONCURRENCY = 24

describe.skipIf(!postgresAvailable)('three service processes on one PostgreSQL database', () => {
  let schema: PgSchema
  const dir = tempDir('pg-procs')
  let instances: SpawnedService[] = []

  beforeAll(async () => {
    schema = await freshSchema()
    mkdirSync(join(dir.path, 'handlers'))
    writeFileSync(join(dir.path, 'handlers', 'effect.ts'), pgEffectHandler())
    const env = {
      DATABASE_URL: `${schema.url}&password=${QUERY_PASSWORD}`,
      HANDLERS_DIR: join(dir.path, 'handlers'),
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      LOG_LEVEL: 'warn',
    }
    // The first instance logs at info so its port can be read; all three start together.
    instances = await Promise.all([1, 2, 3].map(() => spawnService({ ...env, LOG_LEVEL: 'info' })))
  })
  afterAll(async () => {
    for (const i of instances) i.proc.kill('SIGKILL')
    await Promise.all(instances.map((i) => i.exited))
    await schema?.drop()
    dir.remove()
  })

  it('logs where the database is at start-up, never the password in the URL', () => {
    for (const instance of instances) {
      expect(instance.output()).toContain('"database":"postgres"')
      expect(instance.output()).not.toContain(QUERY_PASSWORD)
    }
  })

  it('every event has exactly one effect, across instances, duplicates and a SIGKILL', async () => {
    const events = Array.from({ length: EVENTS }, () => stripeEvent())
    const sends = [...events, ...events.filter(() => Math.random() < DUPLICATE_SHARE)]
    sends.sort(() => Math.random() - 0.5)
    const victim = instances[2] as SpawnedService
    const killAt = Math.floor(sends.length / 3)
    let sent = 0
    let retried = 0
    let duplicates = 0
    const acknowledged = new Set<string>()

    const deliver = async (event: Record<string, unknown>) => {
      let target = instances[Math.floor(Math.random() * 3)] as SpawnedService
      for (let attempt = 0; attempt < 20; attempt++) {
        const res = await postStripe(target.url, event).catch(() => undefined)
        if (res && res.status === 200) {
          acknowledged.add(event.id as string)
          if ((res.body as { duplicate: boolean }).duplicate) duplicates++
          return
        }
        // Refused (the victim is gone) or 5xx: the provider retries, here on a surviving instance.
        retried++
        target = instances[attempt % 2] as SpawnedService
      }
      throw new Error(`event ${event.id} never acknowledged`)
    }

    const queue = [...sends]
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let event = queue.shift(); event; event = queue.shift()) {
          if (++sent === killAt) victim.proc.kill('SIGKILL')
          await deliver(event)
        }
      }),
    )
    await victim.exited

    const [counts] = await schema.query<{
      events: string
      effects: string
      distinct_effects: string
      orphans: string
      missing: string
    }>(
      `SELECT
         (SELECT count(*) FROM hookinbox_events) AS events,
         (SELECT count(*) FROM test_effects) AS effects,
         (SELECT count(DISTINCT event_id) FROM test_effects) AS distinct_effects,
         (SELECT count(*) FROM test_effects t WHERE NOT EXISTS (SELECT 1 FROM hookinbox_events e WHERE e.event_id = t.event_id)) AS orphans,
         (SELECT count(*) FROM hookinbox_events e WHERE e.status = 'processed' AND NOT EXISTS (SELECT 1 FROM test_effects t WHERE t.event_id = e.event_id)) AS missing`,
    )
    console.log(
      `pg multi-process: ${EVENTS} events, ${sends.length} deliveries, 1 SIGKILL at delivery ${killAt}, ${retried} retries, ${duplicates} duplicates answered, ${counts?.effects} effects`,
    )
    expect(acknowledged.size).toBe(EVENTS)
    expect(Number(counts?.events)).toBe(EVENTS)
    expect(Number(counts?.effects)).toBe(EVENTS)
    expect(Number(counts?.distinct_effects)).toBe(EVENTS)
    expect(Number(counts?.orphans)).toBe(0)
    expect(Number(counts?.missing)).toBe(0)
  }, 120_000)
})
