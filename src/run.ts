/**
 * Runs the service as a process: parse the configuration, start, stop gracefully on SIGTERM/SIGINT.
 * `server.ts` (npm start) runs it plain; `dev.ts` (npm run dev) in development mode.
 */
import { ConfigError, loadEnv, parseConfig } from './config.ts'
import { DevModeRefused, prepareDevMode } from './dev/dev-mode.ts'
import { DEV_PAYPAL_CERT_URL, DevSecretsUnusable } from './dev/dev-secrets.ts'
import { createLogger, errorText } from './logger.ts'
import { HandlerLoadError } from './registry/load-handlers.ts'
import { type StartOptions, startService } from './service.ts'

function fail(message: string, code: number): never {
  process.stderr.write(`hookinbox: ${message}\n`)
  process.exit(code)
}

export async function run(options: { dev: boolean }) {
  // Installed first: until a process has a handler, SIGTERM's default action ends it at once, and it did so
  // between the server's first accepted connection and the handlers installed after start-up. A signal during
  // start-up stops the service as soon as it is up; a second one ends the process (the default again).
  let service: Awaited<ReturnType<typeof startService>> | undefined
  let signalled: NodeJS.Signals | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    process.off('SIGTERM', onSignal)
    process.off('SIGINT', onSignal)
    if (service) stop(signal)
    else signalled = signal
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)

  let env = loadEnv()
  let dev: StartOptions['dev']
  let devBanner: string | undefined
  /** Where the dev banner points for the admin password: the token it printed, or the user's own. */
  let adminPassword = 'your ADMIN_TOKEN'
  if (options.dev) {
    try {
      const setup = prepareDevMode(env)
      env = setup.env
      dev = {
        paypalKey: { certUrl: DEV_PAYPAL_CERT_URL, publicKeyPem: setup.secrets.paypal.publicKeyPem },
        watchHandlers: true,
      }
      const shown = setup.filled.map((name) => `  ${name}=${env[name]}`).join('\n')
      if (setup.filled.includes('ADMIN_TOKEN')) adminPassword = 'the ADMIN_TOKEN above'
      devBanner = [
        `hookinbox development mode (never for production)`,
        `  dev secrets: ${setup.secretsPath}${setup.created ? ' (created now)' : ''}`,
        shown
          ? `  using for this install:\n${shown}`
          : '  every provider secret comes from your configuration',
        `  PayPal deliveries signed by \`npm run send\` are trusted for ${DEV_PAYPAL_CERT_URL}`,
        `  handler files are reloaded when they change`,
      ].join('\n')
    } catch (err) {
      if (err instanceof DevModeRefused || err instanceof DevSecretsUnusable) fail(err.message, 78)
      throw err
    }
  }

  let config: ReturnType<typeof parseConfig>
  try {
    config = parseConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 78)
    throw err
  }
  const log = createLogger(config.logLevel)
  try {
    service = await startService(config, {
      log,
      ...(dev ? { dev } : {}),
      // Durable commits are impossible from here on: stop, so the next start recovers the database from disk.
      onFatal: () => stop('storage failure', 1),
    })
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, 78)
    if (err instanceof HandlerLoadError) {
      log.fatal({ file: err.file }, err.message)
      fail(err.message, 1)
    }
    log.fatal({ err }, 'start-up failed')
    // Without the values a failed query bound (errorText): they could be anything a migration touched.
    fail(`start-up failed: ${errorText(err)}`, 1)
  }
  if (devBanner) {
    process.stderr.write(
      `\n${devBanner}\n  open ${service.url}/admin (user: anything, password: ${adminPassword})\n  try: npm run send -- stripe checkout.session.completed\n\n`,
    )
  }

  function stop(signal: string, code = 0) {
    if (!service) process.exit(code)
    log.info({ signal }, 'stopping: no new connections; finishing in-flight deliveries')
    service.close().then(
      () => process.exit(code),
      (err) => {
        log.error({ err }, 'error while stopping')
        process.exit(1)
      },
    )
  }
  if (signalled) stop(signalled)
}
