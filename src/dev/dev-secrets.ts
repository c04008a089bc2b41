/**
 * Development mode's secrets: random per install, kept in the git-ignored data folder, never well-known.
 * `npm run dev` creates them where a provider has no secret configured; `hookinbox send` reads them so a
 * local delivery is signed exactly as the provider would sign it, with no configuration at all.
 *
 * PayPal signs with a private key whose certificate PayPal serves; locally there is no PayPal, so dev mode
 * makes a key pair and the service (in development mode only) trusts its public key for one reserved
 * certificate URL that is never fetched.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { flushToDisk } from '../flush-to-disk.ts'

/** The certificate URL local PayPal deliveries name; `.invalid` can never resolve, so it is never fetched. */
export const DEV_PAYPAL_CERT_URL =
  'https://paypal-dev.hookinbox.invalid/v1/notifications/certs/CERT-local-dev'

export interface DevSecrets {
  stripe: { webhookSecret: string }
  adyen: { hmacKey: string }
  paypal: { webhookId: string; certUrl: string; privateKeyPem: string; publicKeyPem: string }
}

/** Where the dev secrets live: next to the SQLite database (`./data/` by default). */
export function devSecretsPath(databasePath: string): string {
  const dir = databasePath === ':memory:' ? './data' : dirname(databasePath)
  return join(dir, 'dev-secrets.json')
}

/**
 * The dev secrets file exists but cannot be used. `reason` never quotes the file: a parse error would show
 * the text around the fault, which is part of a secret.
 */
export class DevSecretsUnusable extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path} cannot be used (${reason}): delete it and run \`npm run dev\` to make a new one`)
    this.name = 'DevSecretsUnusable'
  }
}

function isDevSecrets(value: unknown): value is DevSecrets {
  const v = value as Partial<DevSecrets> | null
  return (
    typeof v?.stripe?.webhookSecret === 'string' &&
    typeof v.adyen?.hmacKey === 'string' &&
    typeof v.paypal?.webhookId === 'string' &&
    typeof v.paypal.privateKeyPem === 'string' &&
    typeof v.paypal.publicKeyPem === 'string' &&
    typeof v.paypal.certUrl === 'string'
  )
}

/** The install's dev secrets; undefined when there are none yet; DevSecretsUnusable when the file is bad. */
export function readDevSecrets(path: string, shownPath = path): DevSecrets | undefined {
  if (!existsSync(path)) return undefined
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new DevSecretsUnusable(shownPath, (err as NodeJS.ErrnoException).code ?? 'unreadable')
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new DevSecretsUnusable(shownPath, 'not valid JSON')
  }
  if (!isDevSecrets(value)) throw new DevSecretsUnusable(shownPath, 'not a complete dev secrets file')
  return value
}

/**
 * Writes the file whole or not at all (a temporary file renamed over it), readable by its owner only: a
 * crash mid-write must not leave a truncated file that stops the next `npm run dev`.
 */
export function writeDevSecrets(path: string, secrets: DevSecrets): void {
  mkdirSync(dirname(path), { recursive: true })
  // A name of its own ('wx' refuses an existing file, whose mode a reuse would keep): two runs sharing the
  // data folder (a pid comes round again, in containers every time) never write into one file.
  const temporary = `${path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`
  try {
    writeFileSync(temporary, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600, flag: 'wx' })
    // On disk before the rename: otherwise a power cut can leave the renamed file empty, and the events signed
    // with these secrets unverifiable by the next run.
    flushToDisk(temporary, 'r+')
    renameSync(temporary, path)
    try {
      flushToDisk(dirname(path), 'r')
    } catch (err) {
      // Some platforms cannot open or flush a folder (Windows); the file itself is on disk already.
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EACCES' && code !== 'EINVAL') throw err
    }
  } catch (err) {
    // What was written of it is part of the secrets: never left behind.
    rmSync(temporary, { force: true })
    throw err
  }
}

export function createDevSecrets(): DevSecrets {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return {
    stripe: { webhookSecret: `whsec_dev_${randomBytes(24).toString('hex')}` },
    adyen: { hmacKey: randomBytes(32).toString('hex').toUpperCase() },
    paypal: {
      webhookId: `DEV${randomBytes(8).toString('hex').toUpperCase()}`,
      certUrl: DEV_PAYPAL_CERT_URL,
      privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    },
  }
}

/** Reads the install's dev secrets, creating them (mode 0600) on first use. */
export function loadOrCreateDevSecrets(path: string): { secrets: DevSecrets; created: boolean } {
  const existing = readDevSecrets(path)
  if (existing) return { secrets: existing, created: false }
  const secrets = createDevSecrets()
  writeDevSecrets(path, secrets)
  return { secrets, created: true }
}
