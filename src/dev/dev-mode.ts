/**
 * `npm run dev`: the service with development conveniences that `npm start` never has. Where a provider has
 * no secret configured it uses this install's random dev secrets (created on first use in the git-ignored
 * data folder and printed at start-up), it trusts the local PayPal signing key for its reserved URL, it
 * makes an admin token, and it reloads handler files when they change. It refuses to run with
 * NODE_ENV=production.
 */
import { randomBytes } from 'node:crypto'
import { sqlitePath } from '../config.ts'
import { type DevSecrets, devSecretsPath, loadOrCreateDevSecrets, writeDevSecrets } from './dev-secrets.ts'

export class DevModeRefused extends Error {
  constructor() {
    super('development mode refuses to run with NODE_ENV=production: use `npm start`')
    this.name = 'DevModeRefused'
  }
}

export interface DevSetup {
  env: Record<string, string>
  secrets: DevSecrets & { adminToken: string }
  secretsPath: string
  created: boolean
  /** Which variables came from the dev secrets (the others were configured by the user). */
  filled: string[]
}

export function prepareDevMode(env: Record<string, string>): DevSetup {
  if (env.NODE_ENV === 'production') throw new DevModeRefused()
  const secretsPath = devSecretsPath(sqlitePath(env.DATABASE_URL))
  const { secrets: loaded, created } = loadOrCreateDevSecrets(secretsPath)
  let secrets = loaded as DevSecrets & { adminToken?: string }
  if (!secrets.adminToken) {
    secrets = { ...secrets, adminToken: randomBytes(18).toString('base64url') }
    writeDevSecrets(secretsPath, secrets)
  }
  const out = { ...env }
  const filled: string[] = []
  const fill = (name: string, value: string) => {
    if (!out[name]) {
      out[name] = value
      filled.push(name)
    }
  }
  fill('STRIPE_WEBHOOK_SECRET', secrets.stripe.webhookSecret)
  fill('ADYEN_HMAC_KEY', secrets.adyen.hmacKey)
  fill('PAYPAL_WEBHOOK_ID', secrets.paypal.webhookId)
  fill('ADMIN_TOKEN', secrets.adminToken as string)
  return { env: out, secrets: secrets as DevSetup['secrets'], secretsPath, created, filled }
}
