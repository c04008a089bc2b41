/**
 * When `npm run migrate-to-postgres` fails, its message says which statement failed and why, and holds none of
 * the payloads it was copying. Drizzle's error for a failed insert lists every bound value in its message, and
 * the tool printed that message: a refused batch put up to 1000 events' payloads (card data, emails) on stderr,
 * without even the database's reason.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openPostgres } from '../../src/db/postgres.ts'
import { freshSchema, type PgSchema, postgresAvailable } from '../support/postgres.ts'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { PROJECT_ROOT } from '../support/temp-dir.ts'
import { startTestService, type TestService } from '../support/test-service.ts'

const MARKER = `payload-marker-${process.pid}-${Date.now().toString(36)}`

/** Runs the tool as `npm run migrate-to-postgres -- --from … --to …` does; resolves with its exit code and output. */
function runTool(from: string, to: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', join(PROJECT_ROOT, 'src/tools/migrate-to-postgres.ts'), '--from', from, '--to', to],
    { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' } },
  )
  let stdout = ''
  let stderr = ''
  proc.stdout.on('data', (d) => {
    stdout += d
  })
  proc.stderr.on('data', (d) => {
    stderr += d
  })
  return new Promise((resolve) => proc.once('close', (code) => resolve({ code, stdout, stderr })))
}

describe.skipIf(!postgresAvailable)('a failed copy to PostgreSQL', () => {
  let sqlite: TestService | undefined
  let schema: PgSchema | undefined
  afterAll(async () => {
    await sqlite?.dispose()
    await schema?.drop()
  })

  it('names the failed statement and the reason, and prints no payload', async () => {
    sqlite = await startTestService()
    for (let i = 0; i < 3; i++) {
      const event = stripeEvent({ data: { object: { receipt_email: `${MARKER}-${i}@example.com` } } })
      expect((await postStripe(sqlite.url, event)).status).toBe(200)
    }
    await sqlite.close()

    // The target, migrated, then refusing every new event row: this stands for any failure of the insert
    // (a full disk, a trigger, a permission withdrawn).
    schema = await freshSchema('mig')
    await (await openPostgres({ url: schema.url, poolSize: 1 })).close()
    await schema.query('ALTER TABLE hookinbox_events ADD CONSTRAINT refuse_copies CHECK (seq < 0) NOT VALID')

    const run = await runTool(sqlite.dbPath, schema.url)
    expect(run.code).toBe(1)
    const output = run.stdout + run.stderr
    expect(output).not.toContain(MARKER)
    expect(output).not.toMatch(/params:/)
    expect(run.stderr).toMatch(/^migrate-to-postgres: Failed query: insert into "hookinbox_events"/)
    expect(run.stderr).toContain('violates check constraint "refuse_copies"')
  })
})
