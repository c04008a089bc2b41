/**
 * Runs `hookinbox send` in-process through its `main`, with its own environment, working folder and
 * captured output. Every run checks that no secret it could know appears anywhere in what it printed.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { expect } from 'vitest'
import { main } from '../../src/cli/send.ts'
import { createDevSecrets, type DevSecrets } from '../../src/dev/dev-secrets.ts'
import { tempDir } from '../support/temp-dir.ts'

export interface RunResult {
  code: number
  stdout: string
  stderr: string
  /** stdout parsed, for --json runs. */
  json<T = Record<string, unknown>>(): T
}

export interface RunOptions {
  env?: Record<string, string>
  cwd: string
  /** Secrets that must not appear in the output beyond those found in env and in the cwd's dev file. */
  secrets?: string[]
}

const SECRET_NAMES = /SECRET|KEY|AUTH|TOKEN|PASSWORD/

/** The values a leak check looks for: secret-looking variables, their password halves, and their encodings. */
function secretValues(env: Record<string, string>, extra: string[]): string[] {
  const values: string[] = [...extra]
  for (const [name, value] of Object.entries(env)) {
    if (!SECRET_NAMES.test(name)) continue
    for (const part of value.split(',')) {
      const v = part.trim()
      values.push(v, v.toLowerCase(), v.toUpperCase(), Buffer.from(v).toString('base64'))
      if (v.includes(':')) values.push(v.slice(v.indexOf(':') + 1))
    }
  }
  return values.filter((v) => v.length >= 8)
}

export function devSecretValues(dev: DevSecrets): string[] {
  const pemLines = dev.paypal.privateKeyPem
    .split('\n')
    .filter((l) => l.length >= 16 && !l.startsWith('-----'))
  return [dev.stripe.webhookSecret, dev.adyen.hmacKey, dev.adyen.hmacKey.toLowerCase(), ...pemLines]
}

export async function run(args: string[], options: RunOptions): Promise<RunResult> {
  let stdout = ''
  let stderr = ''
  const code = await main(args, {
    env: options.env ?? {},
    cwd: options.cwd,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  })
  const output = stdout + stderr
  for (const secret of secretValues(options.env ?? {}, options.secrets ?? [])) {
    expect(output.includes(secret), 'a secret appeared in the output').toBe(false)
  }
  return { code, stdout, stderr, json: <T>() => JSON.parse(stdout) as T }
}

/** A scratch working folder with no `.env` and no dev secrets, unless written. */
export function scratchCwd(): { path: string; remove(): void } {
  return tempDir('cli')
}

/** Writes the dev secrets file `npm run dev` would write for the default DATABASE_URL in `cwd`. */
export function writeDevSecrets(cwd: string, dataDir = 'data'): DevSecrets {
  const secrets = createDevSecrets()
  mkdirSync(join(cwd, dataDir), { recursive: true })
  writeFileSync(join(cwd, dataDir, 'dev-secrets.json'), JSON.stringify(secrets, null, 2), { mode: 0o600 })
  return secrets
}

/** A loopback port nobody listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : 0
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

export interface JsonReport {
  ok: boolean
  provider: string
  type: string
  eventId: string
  endpoint: string
  signedWith: string
  deliveries: { n: number; status?: number; body?: string; error?: { code: string } }[]
  summary: {
    deliveries: number
    skipped: number
    statuses: Record<string, number>
    recorded: Record<string, number>
    duplicates: number
    unreported: number
    ok: boolean
  }
  advice: string[]
}
