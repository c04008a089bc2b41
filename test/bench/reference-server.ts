/**
 * The two references, each run as its own process like the service:
 *   REFERENCE_MODE=bare    POST /webhooks/stripe answers 200 without reading the body: the ceiling of
 *                          Hono on @hono/node-server on this machine.
 *   REFERENCE_MODE=verify  reads the raw body and runs the same Stripe check the service runs
 *                          (Stripe.webhooks.signature.verifyHeader, same tolerance): the ceiling of any
 *                          receiver that verifies.
 *   REFERENCE_MODE=parse   the same, then JSON.parse of the verified body and a read of its `id`: the least
 *                          any receiver that tells a duplicate from a new event must do, before any storage.
 * Both answer the same small JSON the service answers, so response sizes match.
 */
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import Stripe from 'stripe'

const mode = process.env.REFERENCE_MODE
const secret = process.env.STRIPE_WEBHOOK_SECRET ?? ''
const tolerance = Number(process.env.STRIPE_TOLERANCE_SECONDS ?? 300)
const verifier = Stripe.webhooks.signature
if (!verifier) throw new Error('the stripe package has no webhook signature verifier')
if (mode !== 'bare' && mode !== 'verify' && mode !== 'parse')
  throw new Error('REFERENCE_MODE must be bare, verify or parse')

const app = new Hono()
app.get('/healthz', (c) => c.json({ status: 'ok' }))

if (mode === 'bare') {
  app.post('/webhooks/stripe', (c) => c.json({ received: true, duplicate: false, status: 'processed' }))
} else {
  app.post('/webhooks/stripe', async (c) => {
    const body = Buffer.from(await c.req.arrayBuffer())
    try {
      verifier.verifyHeader(body, c.req.header('stripe-signature') ?? '', secret, tolerance)
    } catch {
      return c.json({ error: 'invalid signature' }, 400)
    }
    if (mode === 'parse') {
      const event = JSON.parse(body.toString('utf8')) as { id?: unknown }
      if (typeof event.id !== 'string') return c.json({ error: 'no id' }, 400)
    }
    return c.json({ received: true, duplicate: false, status: 'processed' })
  })
}

serve({ fetch: app.fetch, port: Number(process.env.PORT), hostname: process.env.HOST ?? '127.0.0.1' })
process.once('SIGTERM', () => process.exit(0))
