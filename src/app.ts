/**
 * Builds the HTTP app from its dependencies, so tests run it on a loopback port without globals.
 */
import { Hono } from 'hono'
import { TrieRouter } from 'hono/router/trie-router'
import type { Logger } from 'pino'
import { adminRoutes } from './admin/admin-routes.ts'
import type { EventHistory } from './admin/event-history.ts'
import { requireToken } from './admin/require-admin.ts'
import { AppError, asAppError, toResponse } from './errors.ts'
import type { Inbox } from './inbox/inbox.ts'
import type { Metrics } from './metrics.ts'
import type { Provider, ProviderName } from './providers/provider.ts'
import { type Admission, createAdmission } from './webhooks/admission.ts'
import { createTrafficAdvice } from './webhooks/traffic-advice.ts'
import { webhookRoutes } from './webhooks/verify-and-receive.ts'

export interface AppDeps {
  providers: Partial<Record<ProviderName, Provider>>
  inbox: Inbox
  history: EventHistory
  log: Logger
  maxBodyBytes: number
  /** Bounds the verified deliveries held at once; by default none. */
  admission?: Admission
  adminToken: string | undefined
  /** Whether the database answers and the migrations are applied. */
  ready: () => Promise<boolean>
  now?: () => Date
  metrics?: Metrics
  /** When set, /metrics needs `Authorization: Bearer <token>`. */
  metricsToken?: string | undefined
}

/**
 * The methods the app's routes take at a path (`GET` brings `HEAD`, which Hono answers with it). Middleware is
 * registered for every method (`ALL`) and is not a route: a path only middleware covers takes nothing.
 */
function allowedMethods(app: Hono): (path: string) => string[] {
  const router = new TrieRouter<true>()
  const methods = new Set<string>()
  for (const route of app.routes) {
    if (route.method === 'ALL') continue
    router.add(route.method, route.path, true)
    methods.add(route.method)
  }
  return (path) => {
    const allowed = [...methods].filter((method) => router.match(method, path)[0].length > 0)
    return allowed.flatMap((m) => (m === 'GET' && !allowed.includes('HEAD') ? ['GET', 'HEAD'] : [m]))
  }
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono()

  // Browsers ask for it on every page; answer without a 404 in the console.
  app.get('/favicon.ico', (c) => c.body(null, 204))
  app.get('/healthz', (c) => c.json({ status: 'ok' }))
  app.get('/readyz', async (c) => {
    let ready = false
    try {
      ready = await deps.ready()
    } catch {
      ready = false
    }
    return ready ? c.json({ status: 'ready' }) : c.json({ status: 'unavailable' }, 503)
  })

  if (deps.metrics) {
    const registry = deps.metrics.registry
    if (deps.metricsToken) app.use('/metrics', requireToken(deps.metricsToken, 'metrics'))
    app.get('/metrics', async (c) =>
      c.text(await registry.metrics(), 200, { 'content-type': registry.contentType }),
    )
  }

  app.route(
    '/',
    webhookRoutes({
      providers: deps.providers,
      inbox: deps.inbox,
      maxBodyBytes: deps.maxBodyBytes,
      admission:
        deps.admission ??
        createAdmission({ maxDeliveries: Number.POSITIVE_INFINITY, maxBytes: Number.POSITIVE_INFINITY }),
      log: deps.log,
      now: deps.now ?? (() => new Date()),
      onRejected: deps.metrics?.rejected,
      onOutcome: deps.metrics?.outcome,
      onDelivered: deps.metrics?.delivered,
      advice: createTrafficAdvice(deps.log, deps.now ?? (() => new Date())),
    }),
  )
  app.route(
    '/',
    adminRoutes({
      adminToken: deps.adminToken,
      history: deps.history,
      inbox: deps.inbox,
      now: deps.now ?? (() => new Date()),
    }),
  )

  // A URL that exists but not for this method says so (405 and Allow), as the webhook URLs do: a 404 would tell
  // an operator who GETs a replay URL that the event does not exist. Built once every route is registered.
  let allowedAt: ((path: string) => string[]) | undefined
  app.notFound((c) => {
    allowedAt ??= allowedMethods(app)
    const allowed = allowedAt(c.req.path)
    if (allowed.length === 0) return toResponse(new AppError('not_found', 'not found'))
    const allow = allowed.join(', ')
    return toResponse(
      new AppError('method_not_allowed', `this URL takes ${allow}`, { headers: { Allow: allow } }),
    )
  })
  app.onError((err) => {
    const appError = asAppError(err)
    if (appError.kind === 'internal') deps.log.error({ err }, 'unexpected error')
    // Logged once by the route already ("delivery rejected"); a line more each, with a stack, would double
    // what an overloaded service writes.
    else if (appError.status >= 500 && appError.kind !== 'overloaded')
      deps.log.warn({ kind: appError.kind, err: appError.cause ?? err }, appError.message)
    return toResponse(appError)
  })
  return app
}
