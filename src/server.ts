/**
 * Process entry (`npm start`): parse the configuration, start the service, stop gracefully on SIGTERM/SIGINT.
 */
import { ConfigError, loadEnv, parseConfig } from './config.ts'
import { createLogger } from './logger.ts'
import { HandlerLoadError } from './registry/load-handlers.ts'
import { startService } from './service.ts'

async function main() {
  let config: ReturnType<typeof parseConfig>
  try {
    config = parseConfig(loadEnv())
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`hookinbox: ${err.message}\n`)
      process.exit(78)
    }
    throw err
  }
  const log = createLogger(config.logLevel)
  let service: Awaited<ReturnType<typeof startService>>
  try {
    service = await startService(config, { log })
  } catch (err) {
    if (err instanceof HandlerLoadError) {
      log.fatal({ file: err.file }, err.message)
      process.stderr.write(`hookinbox: ${err.message}\n`)
    } else {
      log.fatal({ err }, 'start-up failed')
      process.stderr.write(`hookinbox: start-up failed: ${(err as Error).message}\n`)
    }
    process.exit(1)
  }

  const stop = (signal: string) => {
    log.info({ signal }, 'stopping: no new connections; finishing in-flight deliveries')
    service.close().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'error while stopping')
        process.exit(1)
      },
    )
  }
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))
}

void main()
