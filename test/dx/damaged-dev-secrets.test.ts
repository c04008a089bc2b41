/**
 * A damaged `data/dev-secrets.json` (a crash mid-write, a bad merge, a hand edit) stops `npm run dev` and
 * `npm run send` with a message that names the file and the fix, and never shows the file's text: a parse
 * error would quote the part of it around the fault, which is a secret.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createDevSecrets, readDevSecrets, writeDevSecrets } from '../../src/dev/dev-secrets.ts'
import { run, scratchCwd, writeDevSecrets as writeDevSecretsAt } from '../cli/cli-helpers.ts'
import { runServer } from '../support/spawn-service.ts'

const cleanups: Array<() => void> = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

/** A scratch folder whose dev secrets file is the first `keep` characters of a real one. */
function damagedFile(text: (whole: string) => string) {
  const dir = scratchCwd()
  cleanups.push(dir.remove)
  const secrets = writeDevSecretsAt(dir.path)
  const path = join(dir.path, 'data', 'dev-secrets.json')
  writeFileSync(path, text(JSON.stringify(secrets, null, 2)))
  return { dir: dir.path, secrets }
}

const secretParts = (secrets: ReturnType<typeof createDevSecrets>) => [
  secrets.stripe.webhookSecret.slice(10, 30),
  secrets.adyen.hmacKey.slice(0, 20),
  secrets.paypal.webhookId,
  secrets.paypal.privateKeyPem.split('\n')[1]?.slice(0, 20) ?? '',
]

async function startDevIn(cwd: string) {
  const proc = runServer(
    { HOST: '127.0.0.1', PORT: '0', HANDLERS_DIR: join(cwd, 'handlers') },
    cwd,
    'src/dev.ts',
  )
  const exit = await Promise.race([
    proc.exited,
    new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 20_000)),
  ])
  if (exit === 'still running') proc.proc.kill('SIGKILL')
  return { exit, output: proc.output() }
}

describe('a damaged dev secrets file', () => {
  it.each([
    [
      'cut off mid-write',
      (whole: string) => whole.slice(0, whole.indexOf('whsec_dev_') + 30),
      'not valid JSON',
    ],
    [
      'valid JSON without the PayPal key',
      (whole: string) => JSON.stringify({ ...JSON.parse(whole), paypal: {} }),
      'not a complete dev secrets file',
    ],
  ])('%s: npm run dev stops with exit 78, the file and the fix, and no secret', async (_, damage, reason) => {
    const { dir, secrets } = damagedFile(damage)
    const { exit, output } = await startDevIn(dir)
    expect(exit).toEqual({ code: 78, signal: null })
    expect(output).toContain(`data/dev-secrets.json cannot be used (${reason})`)
    expect(output).toContain('delete it and run `npm run dev` to make a new one')
    for (const part of secretParts(secrets))
      expect(output.includes(part), 'a secret in the output').toBe(false)
    expect(output).not.toMatch(/SyntaxError|at .*\.ts:\d+/)
  })

  it('cut off mid-write: npm run send says the same and signs nothing', async () => {
    const { dir, secrets } = damagedFile((whole) => whole.slice(0, whole.indexOf('whsec_dev_') + 30))
    const result = await run(['stripe', 'invoice.paid', '--url', 'http://127.0.0.1:9'], {
      cwd: dir,
      secrets: secretParts(secrets),
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toContain('./data/dev-secrets.json cannot be used (not valid JSON)')
    expect(result.stderr).toContain('delete it and run `npm run dev` to make a new one')
  })

  it('is written whole through a renamed temporary file, readable by its owner only', () => {
    const dir = scratchCwd()
    cleanups.push(dir.remove)
    const path = join(dir.path, 'data', 'dev-secrets.json')
    const secrets = createDevSecrets()
    writeDevSecrets(path, secrets)
    writeDevSecrets(path, { ...secrets, stripe: { webhookSecret: 'whsec_dev_second' } })
    expect(readDevSecrets(path)?.stripe.webhookSecret).toBe('whsec_dev_second')
    expect(readdirSync(join(dir.path, 'data'))).toEqual(['dev-secrets.json'])
    expect(statSync(path).mode & 0o777).toBe(0o600)
  })

  it('leaves no temporary file behind when the write fails (it would hold part of the secrets)', () => {
    const dir = scratchCwd()
    cleanups.push(dir.remove)
    const data = join(dir.path, 'data')
    // The rename cannot replace a folder: the temporary file is written whole, then the rename fails.
    mkdirSync(join(data, 'dev-secrets.json', 'inside'), { recursive: true })
    expect(() => writeDevSecrets(join(data, 'dev-secrets.json'), createDevSecrets())).toThrow()
    expect(readdirSync(data)).toEqual(['dev-secrets.json'])
  })

  it('is readable by its owner only, written through a temporary file of its own, never a stale one', () => {
    const dir = scratchCwd()
    cleanups.push(dir.remove)
    const path = join(dir.path, 'data', 'dev-secrets.json')
    mkdirSync(join(dir.path, 'data'))
    // Left by another run (or named as an earlier version named them): neither reused nor removed.
    const stale = [`${path}.${process.pid}.tmp`, `${path}.${process.pid}-0badc0de.tmp`]
    for (const file of stale) writeFileSync(file, 'left over', { mode: 0o644 })
    writeDevSecrets(path, createDevSecrets())
    expect(statSync(path).mode & 0o777).toBe(0o600)
    expect(readdirSync(join(dir.path, 'data')).sort()).toEqual(
      ['dev-secrets.json', ...stale.map((file) => file.slice(file.lastIndexOf('/') + 1))].sort(),
    )
    for (const file of stale) expect(readFileSync(file, 'utf8')).toBe('left over')
  })
})
