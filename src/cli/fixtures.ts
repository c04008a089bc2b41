/**
 * The built-in events: one JSON file per event type in `fixtures/<provider>/<event-type>.json`. Stripe and
 * PayPal files hold the event itself; Adyen files hold a whole classic notification (without signatures).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PROVIDER_NAMES, type ProviderName } from '../providers/provider.ts'
import { UsageError } from './args.ts'

const FIXTURES_DIR = fileURLToPath(new URL('./fixtures/', import.meta.url))

export function fixtureTypes(provider: ProviderName): string[] {
  return readdirSync(join(FIXTURES_DIR, provider))
    .filter((name) => name.endsWith('.json'))
    .map((name) => name.slice(0, -'.json'.length))
    .sort()
}

export function allFixtureTypes(): Record<ProviderName, string[]> {
  return Object.fromEntries(PROVIDER_NAMES.map((p) => [p, fixtureTypes(p)])) as Record<ProviderName, string[]>
}

/** Edit distance, for "did you mean" on a mistyped event type. */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution)
    }
    previous = current
  }
  return previous[b.length] ?? 0
}

/** The fixture type the user meant: exact, else case-insensitive (`payment.capture.completed`), else a UsageError. */
export function resolveFixtureType(provider: ProviderName, requested: string): string {
  const types = fixtureTypes(provider)
  if (types.includes(requested)) return requested
  const folded = types.find((t) => t.toLowerCase() === requested.toLowerCase())
  if (folded) return folded
  const nearest = types
    .map((t) => ({ t, d: distance(t.toLowerCase(), requested.toLowerCase()) }))
    .sort((x, y) => x.d - y.d)[0]
  const hint = nearest && nearest.d <= 3 ? ` Did you mean ${nearest.t}?` : ''
  throw new UsageError(
    `no built-in ${provider} event "${requested}".${hint}\n` +
      `Built-in ${provider} events: ${types.join(', ')}\n` +
      'To send another type, write the event to a file and use --file.',
  )
}

export function readFixture(provider: ProviderName, type: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURES_DIR, provider, `${type}.json`), 'utf8')) as Record<
    string,
    unknown
  >
}
