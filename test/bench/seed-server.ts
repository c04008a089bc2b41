/**
 * The naive "seed" receiver, for comparison: verify the Stripe signature (the same check the service runs),
 * SELECT whether the event id was seen, `await` the handler, then INSERT the id. No transaction, so every
 * INSERT is its own durable commit (WAL, synchronous=FULL), and nothing stops two deliveries of the same
 * event from both passing the SELECT while the first one's handler is awaited.
 *
 *   SEED_HANDLER=noop     the handler does nothing (the load comparison with scenario 1)
 *   SEED_HANDLER=effects  the handler waits 5 ms (an outbound call) and inserts a row into bench_effects,
 *                         which has no unique constraint: one row per handler run (the race check)
 */
import { serve } from '@hono/node-server'
import Database from 'better-sqlite3'
import { Hono } from 'hono'
import Stripe from 'stripe'
import { RACE_HANDLER_WAIT_MS } from './bench-handlers.ts'

const secret = process.env.STRIPE_WEBHOOK_SECRET ?? ''
const tolerance = Number(process.env.STRIPE_TOLERANCE_SECONDS ?? 300)
const dbPath = process.env.SEED_DATABASE ?? ''
const handlerKind = process.env.SEED_HANDLER ?? 'noop'
const verifier = Stripe.webhooks.signature
if (!verifier) throw new Error('the stripe package has no webhook signature verifier')
if (!dbPath) throw new Error('SEED_DATABASE is required')

const db = new Database(dbPath)
db.pragma('journal_mode = WAL')
db.pragma('synchronous = FULL')
db.exec(`CREATE TABLE IF NOT EXISTS seed_events (
  event_id TEXT PRIMARY KEY, type TEXT NOT NULL, payload TEXT NOT NULL, received_at INTEGER NOT NULL)`)
db.exec(
  'CREATE TABLE IF NOT EXISTS bench_effects (id INTEGER PRIMARY KEY, event_id TEXT NOT NULL, at INTEGER NOT NULL)',
)
const seen = db.prepare('SELECT 1 FROM seed_events WHERE event_id = ?')
const record = db.prepare(
  'INSERT INTO seed_events (event_id, type, payload, received_at) VALUES (?, ?, ?, ?)',
)
const effect = db.prepare('INSERT INTO bench_effects (event_id, at) VALUES (?, ?)')

type StripeEvent = { id: string; type: string }

const handlers: Record<string, (event: StripeEvent) => Promise<void>> = {
  noop: async () => {},
  effects: async (event) => {
    await new Promise((resolve) => setTimeout(resolve, RACE_HANDLER_WAIT_MS))
    effect.run(event.id, Date.now())
  },
}
const handle = handlers[handlerKind]
if (!handle) throw new Error('SEED_HANDLER must be noop or effects')

const app = new Hono()
app.get('/healthz', (c) => c.json({ status: 'ok' }))
app.post('/webhooks/stripe', async (c) => {
  const raw = Buffer.from(await c.req.arrayBuffer())
  try {
    verifier.verifyHeader(raw, c.req.header('stripe-signature') ?? '', secret, tolerance)
  } catch {
    return c.json({ error: 'invalid signature' }, 400)
  }
  const text = raw.toString('utf8')
  const event = JSON.parse(text) as StripeEvent
  if (seen.get(event.id)) return c.json({ received: true, duplicate: true, status: 'processed' })
  await handle(event)
  record.run(event.id, event.type, text, Date.now())
  return c.json({ received: true, duplicate: false, status: 'processed' })
})
app.onError((err, c) => c.json({ error: err.message }, 500))

serve({ fetch: app.fetch, port: Number(process.env.PORT), hostname: process.env.HOST ?? '127.0.0.1' })
process.once('SIGTERM', () => {
  db.close()
  process.exit(0)
})
