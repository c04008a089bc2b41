import pino, { type DestinationStream, type Logger } from 'pino'

/**
 * Structured JSON logs. Secrets never reach a log line: configuration is logged only as which providers are
 * configured, and the redaction below is a second line of defence for headers that carry credentials.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'hookinbox' },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers["stripe-signature"]',
          'req.headers["paypal-transmission-sig"]',
          'headers.authorization',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  )
}

export type { Logger }
