/**
 * `npm run backup -- FILE` while deliveries go on, and a restore as the README describes it: the copy is
 * consistent (every event in it has its handler's effect, and no effect is there without its event), every
 * event acknowledged before the backup began is in it, and after the restore those stay duplicates.
 */
import { spawn } from 'node:child_process'
import {
  copyFileSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { basename, dirname, join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import { postStripe, stripeEvent } from '../support/stripe-signing.ts'
import { PROJECT_ROOT, tempDir } from '../support/temp-dir.ts'
import { effectHandler, startTestService, type TestService } from '../support/test-service.ts'

/** `npm run backup -- FILE` as a real process (what the script runs), in a folder without a .env file. */
function backup(file: string, env: Record<string, string>, cwd: string, projectRoot = PROJECT_ROOT) {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'src/tools/backup.ts'), file], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  proc.stdout.on('data', (d) => {
    output += d
  })
  proc.stderr.on('data', (d) => {
    output += d
  })
  return new Promise<{ code: number | null; output: string }>((resolve) =>
    proc.once('close', (code) => resolve({ code, output })),
  )
}

/** The backup's own partial files left beside FILE (`FILE.<pid>-<random>.partial`). */
const partials = (file: string) =>
  readdirSync(dirname(file)).filter(
    (name) => name.startsWith(`${basename(file)}.`) && name.endsWith('.partial'),
  )

/** Every event and effect in a database file, read through a connection of its own. */
function contents(path: string) {
  const db = new Database(path, { readonly: true })
  try {
    return {
      integrity: db.pragma('integrity_check', { simple: true }),
      events: db.prepare('SELECT event_id, status FROM hookinbox_events').all() as Array<{
        event_id: string
        status: string
      }>,
      effects: db.prepare('SELECT event_id FROM test_effects').all() as Array<{ event_id: string }>,
    }
  } finally {
    db.close()
  }
}

describe('backup and restore', () => {
  let svc: TestService | undefined
  afterEach(async () => {
    await svc?.dispose()
    svc = undefined
  })

  it('a backup taken under load is consistent, and restores to a service where acknowledged events stay duplicates', async () => {
    svc = await startTestService({ handlers: { 'effect.ts': effectHandler() } })
    const service = svc
    const before = Array.from({ length: 40 }, () => stripeEvent())
    for (const e of before) expect((await postStripe(service.url, e)).status).toBe(200)

    // Deliveries keep arriving, ten at a time, while the backup is taken.
    let sending = true
    let during = 0
    const load = Promise.all(
      Array.from({ length: 10 }, async () => {
        while (sending) if ((await postStripe(service.url, stripeEvent())).status === 200) during++
      }),
    )
    const file = join(service.dir, 'backup.db')
    const taken = await backup(file, { DATABASE_URL: service.dbPath }, service.dir)
    sending = false
    await load
    expect(taken).toMatchObject({ code: 0 })
    expect(taken.output).toMatch(/^backed up .* to .*backup\.db \(\d+ bytes\)\n$/)
    expect(partials(file)).toEqual([])
    // It holds the payloads: its owner's alone, like the database.
    expect(statSync(file).mode & 0o777).toBe(0o600)
    expect(during).toBeGreaterThan(0)

    const copy = contents(file)
    expect(copy.integrity).toBe('ok')
    const ids = new Set(copy.events.map((e) => e.event_id))
    for (const e of before) expect(ids.has(e.id as string)).toBe(true)
    // Consistent: each processed event has its one effect, and no effect lacks its event.
    const effects = copy.effects.map((e) => e.event_id).sort()
    expect(effects).toEqual(copy.events.map((e) => e.event_id).sort())

    // Restore as the README says: stop, put the backup in place, remove the old -wal and -shm, start.
    await service.close()
    copyFileSync(file, service.dbPath)
    rmSync(`${service.dbPath}-wal`, { force: true })
    rmSync(`${service.dbPath}-shm`, { force: true })
    svc = await service.restart()
    for (const e of before.slice(0, 5)) {
      expect((await postStripe(svc.url, e)).body).toMatchObject({ duplicate: true, status: 'processed' })
    }
    const fresh = stripeEvent()
    expect((await postStripe(svc.url, fresh)).body).toMatchObject({ duplicate: false, status: 'processed' })
    expect(svc.query('SELECT count(*) AS n FROM test_effects')).toEqual([{ n: copy.effects.length + 1 }])
  })

  it('a new database, its -wal and -shm are readable by their owner only', async () => {
    const scratch = tempDir('mode')
    const database = join(scratch.path, 'data', 'hookinbox.db')
    try {
      svc = await startTestService({ env: { DATABASE_URL: database } })
      expect((await postStripe(svc.url, stripeEvent())).status).toBe(200)
      for (const suffix of ['', '-wal', '-shm'])
        expect(statSync(`${database}${suffix}`).mode & 0o777).toBe(0o600)
    } finally {
      await svc?.dispose()
      svc = undefined
      scratch.remove()
    }
  })

  it('refuses an existing file, a PostgreSQL DATABASE_URL and a missing database, saying what to do', async () => {
    svc = await startTestService()
    const { dir, dbPath } = svc
    const existing = join(dir, 'taken.db')
    writeFileSync(existing, 'keep me')
    expect(await backup(existing, { DATABASE_URL: dbPath }, dir)).toMatchObject({
      code: 1,
      output: expect.stringContaining('exists already: give a new file name'),
    })
    const pg = await backup(join(dir, 'b.db'), { DATABASE_URL: 'postgres://u:secret-pw@db/x' }, dir)
    expect(pg).toMatchObject({ code: 2, output: expect.stringContaining('back it up with pg_dump') })
    expect(pg.output).not.toContain('secret-pw')
    expect(await backup(join(dir, 'c.db'), { DATABASE_URL: join(dir, 'nothing.db') }, dir)).toMatchObject({
      code: 1,
      output: expect.stringContaining('there is no database at'),
    })
    expect(await backup('', { DATABASE_URL: dbPath }, dir)).toMatchObject({ code: 2 })
  })

  it("takes the backup when the project's path has a space or is reached through a symbolic link", async () => {
    // The script ran main() only when import.meta.url equalled `file://${argv[1]}`: a space (%20 in the URL)
    // or a linked folder made it exit 0 having written nothing, a backup that silently never happens.
    svc = await startTestService()
    const linked = join(svc.dir, 'my project')
    symlinkSync(PROJECT_ROOT, linked)
    const file = join(svc.dir, 'spaced.db')
    const taken = await backup(file, { DATABASE_URL: svc.dbPath }, svc.dir, linked)
    expect(taken).toMatchObject({ code: 0, output: expect.stringMatching(/^backed up /) })
    expect(contents(file).integrity).toBe('ok')
  })

  it('leaves a file already at FILE.partial alone (another backup’s, being written, or the user’s)', async () => {
    svc = await startTestService()
    const file = join(svc.dir, 'backup.db')
    writeFileSync(`${file}.partial`, 'not ours')
    const taken = await backup(file, { DATABASE_URL: svc.dbPath }, svc.dir)
    expect(taken).toMatchObject({ code: 0, output: expect.stringMatching(/^backed up /) })
    expect(readFileSync(`${file}.partial`, 'utf8')).toBe('not ours')
    expect(contents(file).integrity).toBe('ok')
  })

  it('names the partial files an interrupted backup left (copies of the events), and leaves them', async () => {
    svc = await startTestService()
    const file = join(svc.dir, 'nightly.db')
    const leftover = `${file}.4242-0badc0de.partial`
    writeFileSync(leftover, 'half a copy')
    const taken = await backup(file, { DATABASE_URL: svc.dbPath }, svc.dir)
    expect(taken.code).toBe(0)
    expect(taken.output).toContain(`interrupted backups left ${leftover}`)
    expect(readFileSync(leftover, 'utf8')).toBe('half a copy')
    expect(partials(file)).toEqual([basename(leftover)])
  })

  it('never replaces what is at FILE, even a symbolic link to nothing', async () => {
    svc = await startTestService()
    const file = join(svc.dir, 'link.db')
    symlinkSync(join(svc.dir, 'elsewhere', 'backup.db'), file)
    const taken = await backup(file, { DATABASE_URL: svc.dbPath }, svc.dir)
    expect(taken).toMatchObject({ code: 1, output: expect.stringContaining('exists already') })
    expect(lstatSync(file).isSymbolicLink()).toBe(true)
    expect(readlinkSync(file)).toBe(join(svc.dir, 'elsewhere', 'backup.db'))
    expect(partials(file)).toEqual([])
  })
})
