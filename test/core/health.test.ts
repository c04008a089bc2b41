import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestService, type TestService } from '../support/test-service.ts'

describe('health endpoints', () => {
  let svc: TestService
  beforeAll(async () => {
    svc = await startTestService()
  })
  afterAll(() => svc.dispose())

  it('/healthz answers while the process is alive', async () => {
    const res = await fetch(`${svc.url}/healthz`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ status: 'ok' })
  })

  it('/readyz answers 200 once the database answers and the migrations are applied', async () => {
    const res = await fetch(`${svc.url}/readyz`)
    expect(res.status).toBe(200)
    const applied = svc.query<{ n: number }>('SELECT count(*) AS n FROM __drizzle_migrations')
    expect(applied[0]?.n).toBeGreaterThan(0)
  })

  it('/readyz answers 503 when the database is gone', async () => {
    svc.storage.sqlite?.reader.close()
    const res = await fetch(`${svc.url}/readyz`)
    expect(res.status).toBe(503)
  })
})
