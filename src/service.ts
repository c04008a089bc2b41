/**
 * Assembles the running service from a validated Config: database, handlers, providers, inbox, HTTP server.
 * `server.ts` is the process entry; tests call `startService` directly on a loopback port.
 */
import { existsSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { resolve } from 'node:path'
import { getRequestListener, RequestError } from '@hono/node-server'
import type { Logger } from 'pino'
import { acceptQueued } from './accept-queued.ts'
import { createEventHistory } from './admin/event-history.ts'
import { createApp } from './app.ts'
import { type Config, ConfigError } from './config.ts'
import { createDbCertCache } from './db/paypal-cert-store.ts'
import type { FsyncFn } from './db/wal-sync.ts'
import { AppError, toResponse } from './errors.ts'
import { createLogger } from './logger.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { createAdyenProvider } from './providers/adyen.ts'
import { type CertCache, createPaypalProvider } from './providers/paypal/index.ts'
import type { Provider, ProviderName } from './providers/provider.ts'
import { createStripeProvider } from './providers/stripe.ts'
import { createHandlerRegistry } from './registry/handler-registry.ts'
import { loadHandlers } from './registry/load-handlers.ts'
import { watchHandlers } from './registry/watch-handlers.ts'
import { createPruner, type PruneResult } from './retention/prune.ts'
import { openStorage, type Storage } from './storage.ts'
import { createAdmission } from './webhooks/admission.ts'

export interface StartOptions {
  log?: Logger
  now?: () => Date
  /** Tests: extra CA certificates for PayPal certificate downloads, and PayPal's certificate clock. */
  paypal?: { ca?: string | Buffer; now?: () => Date }
  /** Development mode (`npm run dev` only): a trusted local PayPal key, and handler reloading. */
  dev?: { paypalKey?: { certUrl: string; publicKeyPem: string }; watchHandlers?: boolean }
  /** The storage can no longer make commits durable; the process entry stops the service (see run.ts). */
  onFatal?: (err: unknown) => void
  /** Tests: replaces the fsync of SQLite's WAL (see db/wal-sync.ts), as the clock is replaced. */
  walFsync?: FsyncFn
  /** Tests: holds every admin read on SQLite until released (see db/read-thread.ts). */
  adminReadHold?: SharedArrayBuffer
}

export interface RunningService {
  url: string
  port: number
  storage: Storage
  log: Logger
  /** Runs a retention pass now (it also runs at start-up and hourly). */
  prune(): Promise<PruneResult>
  /** Stops accepting, lets in-flight requests get their answers, commits queued work, closes the database. */
  close(): Promise<void>
}

export function buildProviders(
  config: Config,
  extra: { certCache?: CertCache; paypal?: StartOptions['paypal']; dev?: StartOptions['dev'] } = {},
): Partial<Record<ProviderName, Provider>> {
  const providers: Partial<Record<ProviderName, Provider>> = {}
  if (config.stripe) providers.stripe = createStripeProvider(config.stripe)
  if (config.paypal) {
    providers.paypal = createPaypalProvider({
      webhookIds: config.paypal.webhookIds,
      mode: config.paypal.mode,
      certHosts: config.paypal.certHosts,
      maxTransmissionAgeMs: config.paypal.maxTransmissionAgeDays * 86_400_000,
      ...(config.paypal.api ? { api: config.paypal.api } : {}),
      ...(extra.certCache ? { certCache: extra.certCache } : {}),
      ...(extra.paypal?.ca ? { ca: extra.paypal.ca } : {}),
      ...(extra.paypal?.now ? { now: extra.paypal.now } : {}),
      ...(extra.dev?.paypalKey
        ? { devKeys: { [extra.dev.paypalKey.certUrl]: extra.dev.paypalKey.publicKeyPem } }
        : {}),
    })
  }
  if (config.adyen) {
    providers.adyen = createAdyenProvider({
      hmacKeys: config.adyen.hmacKeys,
      ...(config.adyen.basicAuth ? { basicAuth: config.adyen.basicAuth } : {}),
      ...(config.adyen.previousBasicAuth ? { previousBasicAuth: config.adyen.previousBasicAuth } : {}),
    })
  }
  return providers
}

export async function startService(config: Config, options: StartOptions = {}): Promise<RunningService> {
  const log = options.log ?? createLogger(config.logLevel)
  const now = options.now ?? (() => new Date())
  // A folder that is not there (a typo in HANDLERS_DIR, a volume not mounted) would leave the service without
  // handlers: every event recorded "ignored", answered 200, and never replayable. An empty folder is fine.
  if (!existsSync(config.handlersDir)) {
    throw new ConfigError([
      `HANDLERS_DIR: the folder ${resolve(config.handlersDir)} does not exist (an empty folder means no handlers)`,
    ])
  }
  const handlers = await loadHandlers(config.handlersDir)
  const registry = createHandlerRegistry(handlers)
  let metrics: Metrics | undefined
  let closing: Promise<void> | undefined
  const storage = await openStorage(config, {
    registry,
    log,
    ...(options.now ? { now: options.now } : {}),
    onBatch: (size) => metrics?.batch(size),
    ...(options.onFatal ? { onFatal: options.onFatal } : {}),
    ...(options.walFsync ? { walFsync: options.walFsync } : {}),
    ...(options.adminReadHold ? { readThreadHold: options.adminReadHold } : {}),
  })
  try {
    const { inbox } = storage
    const history = createEventHistory(storage.adminReader, storage.tables)
    if (config.adminToken) storage.prepareAdminReads()
    // The metrics read the kept counts, a few rows: on the event loop, so a scrape starts no thread.
    const counts = createEventHistory(storage.reader, storage.tables)
    const admission = createAdmission(config.pending)
    metrics = createMetrics({
      eventCounts: async () => (await counts.stats(now())).events,
      pendingDeliveries: () => admission.pending,
    })
    const providers = buildProviders(config, {
      certCache: createDbCertCache(storage.reader, storage.tables, inbox.writeLater),
      ...(options.paypal ? { paypal: options.paypal } : {}),
      ...(options.dev ? { dev: options.dev } : {}),
    })
    const stopWatching = options.dev?.watchHandlers
      ? watchHandlers(config.handlersDir, registry, log)
      : () => {}
    const app = createApp({
      providers,
      inbox,
      history,
      metricsToken: config.metricsToken,
      log,
      maxBodyBytes: config.maxBodyBytes,
      admission,
      adminToken: config.adminToken,
      ready: storage.ready,
      metrics,
      now,
    })

    const listener = getRequestListener(app.fetch, {
      hostname: config.host,
      // A request whose Host header or target makes no URL (`Host: a b`, a backslash in the path) is refused by
      // @hono/node-server before the app runs, with an empty 400 by default: answer it as any bad request.
      errorHandler: (err) => {
        if (err instanceof RequestError)
          return toResponse(new AppError('invalid_request', 'invalid Host header or request target'))
        log.error({ err }, 'unexpected error')
        return toResponse(err)
      },
    })
    // A client trickling its request (slowloris) is cut off after 10 s; Node's defaults would hold the
    // connection for up to 5 minutes, and check only every 30 s.
    const server = createServer(
      { requestTimeout: 10_000, headersTimeout: 10_000, connectionsCheckingInterval: 1_000 },
      listener,
    )
    // Node's 5 s is shorter than the idle timeout of the proxies usually in front (see Config).
    server.keepAliveTimeout = config.keepAliveTimeoutMs
    server.listen(config.port, config.host)
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve)
      server.once('error', reject)
    })
    const { port } = server.address() as AddressInfo
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`

    log.info(
      {
        port,
        host: config.host,
        ...storage.description,
        providers: Object.keys(providers),
        // The settings that decide what is taken, shown where an operator looks first.
        ...(config.stripe ? { stripeTestEvents: config.stripe.testEvents } : {}),
        ...(config.adyen?.previousBasicAuth ? { adyenPreviousBasicAuth: true } : {}),
        handlers: handlers.map((h) => ({ name: h.name, provider: h.provider, events: h.events })),
      },
      'hookinbox listening',
    )
    for (const name of ['stripe', 'paypal', 'adyen'] as const) {
      if (!providers[name]) log.info(`${name} is not configured: POST /webhooks/${name} answers 404`)
    }
    if (!config.adminToken)
      log.info('the admin API is disabled: set ADMIN_TOKEN (16+ characters) to enable /admin')

    const pruner = createPruner({
      reader: storage.reader,
      tables: storage.tables,
      maintain: inbox.maintain,
      retentionDays: config.retention.days,
      dedupKeepDays: config.retention.dedupKeepDays,
      log,
    })
    const prune = () => pruner.prune(now()).catch((err) => log.warn({ err }, 'retention pass failed'))
    // At start-up (in the background, so the service listens at once) and then hourly.
    const firstPrune = prune()
    const pruneTimer = setInterval(prune, 3_600_000)
    pruneTimer.unref()

    const close = () => {
      closing ??= (async () => {
        // While stopping, a keep-alive client that sent its next request on a connection about to be closed
        // would see a reset; telling it to close after this answer makes it open a new one (refused).
        server.on('request', (_req: unknown, res: { setHeader(name: string, value: string): void }) =>
          res.setHeader('Connection', 'close'),
        )
        // An admin search still running (its operator may be gone) must not hold the stop.
        storage.stopAdminReads()
        await acceptQueued(server)
        await new Promise<void>((resolve) => {
          server.close(() => resolve())
          // close() waits for open connections; idle keep-alive ones are closed as they become idle.
          const sweep = setInterval(
            () => (server as { closeIdleConnections?: () => void }).closeIdleConnections?.(),
            50,
          )
          const hard = setTimeout(
            () => (server as { closeAllConnections?: () => void }).closeAllConnections?.(),
            30_000,
          )
          server.once('close', () => {
            clearInterval(sweep)
            clearTimeout(hard)
          })
        })
        clearInterval(pruneTimer)
        stopWatching()
        await firstPrune
        await storage.close()
        log.info('hookinbox stopped')
      })()
      return closing
    }
    return { url, port, storage, log, close, prune: () => pruner.prune(now()) }
  } catch (err) {
    await storage.close()
    throw err
  }
}
