/**
 * The password of a DATABASE_URL never reaches the output or the disk, however the URL is written. Only
 * `postgres://`/`postgresql://` in lower case used to count as PostgreSQL: `POSTGRES://app:pw@db/hb`, a
 * mistyped scheme (`postgresql:/…`), another database's URL or credentials without a scheme were taken as an
 * SQLite path. The service then created folders named after the password (`POSTGRES:/app:pw@db/`) and wrote
 * it in the start-up line ("path"), at info level, on every start, while running on SQLite instead.
 */
import { existsSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config.ts'
import { freshSchema, postgresAvailable } from '../support/postgres.ts'
import { runServer, spawnService } from '../support/spawn-service.ts'
import { tempDir } from '../support/temp-dir.ts'

const PASSWORD = `db-password-${process.pid}-${Date.now().toString(36)}`

/** Every name under `dir`, at any depth. */
function namesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
}

/** Runs an entry until it exits or logs that it listens (then stops it): its output, and whether it started. */
async function startOrExit(env: Record<string, string>, cwd: string, entry: string) {
  const run = runServer({ HOST: '127.0.0.1', PORT: '0', HANDLERS_DIR: './handlers', ...env }, cwd, entry)
  const listening = new Promise<'listening'>((resolve) => {
    const check = () => {
      if (run.output().includes('"msg":"hookinbox listening"')) resolve('listening')
    }
    run.proc.stdout?.on('data', check)
    run.proc.stderr?.on('data', check)
  })
  const first = await Promise.race([run.exited.then(({ code }) => code), listening])
  if (first === 'listening') {
    run.proc.kill('SIGTERM')
    await run.exited
  }
  return { output: run.output(), started: first === 'listening', code: first === 'listening' ? null : first }
}

const scratch = tempDir('dburl')
afterAll(() => scratch.remove())

describe('a DATABASE_URL that names no usable database', () => {
  const urls = [
    `postgresql:/app:${PASSWORD}@db.internal/hookinbox`,
    `mysql://app:${PASSWORD}@db.internal/hookinbox`,
    `app:${PASSWORD}@db.internal:5432/hookinbox`,
  ]
  for (const url of urls) {
    for (const entry of ['src/server.ts', 'src/dev.ts']) {
      it(`${url.replace(PASSWORD, '<password>')} stops ${entry} with exit 78; the password is neither printed nor made a folder`, async () => {
        const cwd = join(scratch.path, `case-${Math.random().toString(36).slice(2)}`)
        mkdirSync(join(cwd, 'handlers'), { recursive: true })
        const run = await startOrExit({ DATABASE_URL: url }, cwd, entry)
        expect(run.output).not.toContain(PASSWORD)
        expect(namesUnder(cwd).filter((name) => name.includes(PASSWORD))).toEqual([])
        expect(run.started).toBe(false)
        expect(run.code).toBe(78)
        expect(run.output).toMatch(/DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/)
      })
    }
  }

  it('a path, a file: URL or a Windows drive is still an SQLite file', () => {
    for (const [url, path] of [
      ['./data/events.db', './data/events.db'],
      ['file:/var/lib/hookinbox/events.db', '/var/lib/hookinbox/events.db'],
      ['C:/hookinbox/events.db', 'C:/hookinbox/events.db'],
      ['C:\\Users\\ops@corp\\hookinbox.db', 'C:\\Users\\ops@corp\\hookinbox.db'],
    ] as const) {
      expect(parseConfig({ DATABASE_URL: url }).database).toMatchObject({ kind: 'sqlite', path })
    }
  })

  it('a PostgreSQL URL is one in any case of its scheme', () => {
    for (const scheme of ['postgres', 'POSTGRES', 'PostgreSQL', 'postgresql']) {
      const url = `${scheme}://app:${PASSWORD}@db.internal/hookinbox`
      expect(parseConfig({ DATABASE_URL: url }).database).toMatchObject({ kind: 'postgres', url })
    }
  })
})

describe.skipIf(!postgresAvailable)('an upper-case PostgreSQL scheme with a password', () => {
  it('runs on PostgreSQL, and the start-up line names the database without the password', async () => {
    const schema = await freshSchema('dburl')
    const url = new URL(schema.url)
    url.password = PASSWORD // ignored by a server that trusts the connection, as the test server does
    const upper = url.toString().replace(/^postgres(ql)?:/, (scheme) => scheme.toUpperCase())
    const cwd = join(scratch.path, 'upper')
    mkdirSync(join(cwd, 'handlers'), { recursive: true })
    try {
      const svc = await spawnService({ DATABASE_URL: upper, HANDLERS_DIR: './handlers' }, cwd)
      svc.proc.kill('SIGTERM')
      await svc.exited
      expect(svc.output()).toMatch(/"database":"postgres"/)
      expect(svc.output()).not.toContain(PASSWORD)
    } finally {
      await schema.drop()
    }
    expect(existsSync(join(cwd, 'POSTGRES:'))).toBe(false)
    expect(namesUnder(cwd).filter((name) => name.includes(PASSWORD))).toEqual([])
  })
})
