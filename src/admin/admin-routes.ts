import { type Context, Hono, type MiddlewareHandler } from 'hono'
import { AppError } from '../errors.ts'
import type { Inbox } from '../inbox/inbox.ts'
import { PROVIDER_NAMES, type ProviderName } from '../providers/provider.ts'
import { readBody } from '../webhooks/read-body.ts'
import type { EventHistory } from './event-history.ts'
import { parseFilter, parseListRequest } from './list-filter.ts'
import { adminPages } from './page/admin-pages.tsx'
import { bulkReplay } from './replay.ts'
import { requireAdmin } from './require-admin.ts'

export interface AdminRouteDeps {
  adminToken: string | undefined
  history: EventHistory
  inbox: Inbox
  now: () => Date
}

function providerParam(name: string): ProviderName {
  if (!PROVIDER_NAMES.includes(name as ProviderName)) throw new AppError('not_found', 'no such event')
  return name as ProviderName
}

/** A bulk-replay filter is a few short fields; anything near this is not one. */
const MAX_ADMIN_BODY_BYTES = 64 * 1024

async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  const bytes = await readBody(c, MAX_ADMIN_BODY_BYTES)
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new AppError('invalid_request', 'the body must be a JSON object')
  }
  if (text.trim() === '') return {}
  try {
    const value = JSON.parse(text) as unknown
    if (typeof value === 'object' && value !== null && !Array.isArray(value))
      return value as Record<string, unknown>
  } catch {
    // fall through
  }
  throw new AppError('invalid_request', 'the body must be a JSON object')
}

/**
 * A browser that holds Basic credentials for /admin sends them with any request, also one a hostile page
 * makes (CSRF). Refuse state-changing API calls that a browser marks as cross-site; scripts and curl send
 * neither header and are unaffected.
 */
const refuseCrossSite: MiddlewareHandler = async (c, next) => {
  const site = c.req.header('sec-fetch-site')
  const origin = c.req.header('origin')
  // Browsers that send Sec-Fetch-Site say it directly (and it survives a proxy rewriting Host); older ones
  // are judged by Origin against the Host they reached.
  let crossSite = site !== undefined && site !== 'same-origin' && site !== 'none'
  if (site === undefined && origin !== undefined) {
    try {
      crossSite = new URL(origin).host !== new URL(c.req.url).host
    } catch {
      crossSite = true
    }
  }
  if (crossSite) throw new AppError('forbidden', 'cross-site requests to the admin API are refused')
  await next()
}

export function adminRoutes(deps: AdminRouteDeps): Hono {
  const app = new Hono()
  app.use('/admin', requireAdmin(deps.adminToken))
  app.use('/admin/*', requireAdmin(deps.adminToken))

  // Middleware for every method (not `app.post`, which would make every path under /admin/api a POST route).
  app.use('/admin/api/*', (c, next) => (c.req.method === 'POST' ? refuseCrossSite(c, next) : next()))

  app.get('/admin/api/events', async (c) =>
    c.json(await deps.history.list(parseListRequest(c.req.query()), c.req.raw.signal)),
  )

  app.get('/admin/api/events/:provider/:eventId', async (c) => {
    const event = await deps.history.getEvent(providerParam(c.req.param('provider')), c.req.param('eventId'))
    if (!event) throw new AppError('not_found', 'no such event')
    return c.json(event)
  })

  app.post('/admin/api/events/:provider/:eventId/replay', async (c) => {
    const outcome = await deps.inbox.replay(providerParam(c.req.param('provider')), c.req.param('eventId'))
    return c.json({
      provider: outcome.provider,
      eventId: outcome.eventId,
      status: outcome.status,
      attempts: outcome.attempts,
    })
  })

  app.post('/admin/api/replay', async (c) => {
    const body = await jsonBody(c)
    const { dryRun, ...filterInput } = body
    if (dryRun !== undefined && typeof dryRun !== 'boolean') {
      throw new AppError('invalid_request', 'invalid parameter "dryRun": must be true or false')
    }
    const filter = parseFilter(filterInput)
    if (filter.status && filter.status !== 'failed' && filter.status !== 'parked') {
      throw new AppError('invalid_request', 'invalid parameter "status": only failed or parked events replay')
    }
    return c.json(await bulkReplay(deps.history, deps.inbox, filter, dryRun === true))
  })

  app.get('/admin/api/stats', async (c) => c.json(await deps.history.stats(deps.now())))

  app.route('/', adminPages({ history: deps.history, inbox: deps.inbox }))
  return app
}
