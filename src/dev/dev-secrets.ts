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
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

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

export function readDevSecrets(path: string): DevSecrets | undefined {
  if (!existsSync(path)) return undefined
  return JSON.parse(readFileSync(path, 'utf8')) as DevSecrets
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
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600 })
  return { secrets, created: true }
}
