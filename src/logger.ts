import { DrizzleQueryError } from 'drizzle-orm'
import pino, { type DestinationStream, type Logger } from 'pino'

/**
 * Drizzle wraps a failed query's error in one whose message, stack and `params` property hold every bound
 * value: for the inbox's own writes, the whole payload. pino prints an error's chain of causes too, so
 * wherever such an error sits in the chain it is logged as the SQL text (placeholders only) and the driver's
 * own error, without the values.
 */
const WITHHELD = ': (the value is not shown)'

/**
 * Where a PostgreSQL data exception (SQLSTATE class 22: a value its column's type refuses) starts quoting the
 * value in its message, if it does.
 */
function dataExceptionValue(err: Error): number | undefined {
  const { code, severity } = err as { code?: unknown; severity?: unknown }
  if (typeof code !== 'string' || !code.startsWith('22') || typeof severity !== 'string') return undefined
  const at = err.message.indexOf(': "')
  return at === -1 ? undefined : at
}

/** PostgreSQL's `detail` of an error quotes the row's values (`Key (email)=(jane@example.com) already exists`). */
const DETAIL_WITHHELD = "(not shown: PostgreSQL's detail quotes the row's values)"

const hasRowDetail = (err: Error): boolean => {
  const { severity, detail } = err as { severity?: unknown; detail?: unknown }
  return typeof severity === 'string' && typeof detail === 'string' && detail !== DETAIL_WITHHELD
}

export function withoutQueryValues(err: unknown, depth = 0): unknown {
  if (!(err instanceof Error) || depth > 8) return err
  const cause = (err as { cause?: unknown }).cause
  const cleanCause = cause === undefined ? undefined : withoutQueryValues(cause, depth + 1)
  if (err instanceof DrizzleQueryError) {
    const plain = new Error(
      `Failed query: ${err.query}`,
      cleanCause === undefined ? {} : { cause: cleanCause },
    )
    plain.name = 'DrizzleQueryError'
    const frames = (err.stack ?? '').split('\n').filter((line) => line.startsWith('    at '))
    plain.stack = [`DrizzleQueryError: ${plain.message}`, ...frames].join('\n')
    return plain
  }
  const valueShown = dataExceptionValue(err)
  const rowDetail = hasRowDetail(err)
  if (valueShown === undefined && !rowDetail && cleanCause === cause) return err
  // A copy, so the error the caller holds keeps what it had: the cause cleaned, and what quotes a row's values
  // replaced.
  const copy = Object.create(Object.getPrototypeOf(err)) as Error
  Object.defineProperties(copy, Object.getOwnPropertyDescriptors(err))
  const set = (key: string, value: unknown, enumerable = false) =>
    Object.defineProperty(copy, key, { value, configurable: true, writable: true, enumerable })
  set('cause', cleanCause)
  if (rowDetail) set('detail', DETAIL_WITHHELD, true)
  if (valueShown !== undefined) {
    // PostgreSQL names the value it refused in the message (and so the stack): `invalid input syntax for type
    // integer: "jane@example.com"`, a row of the table being copied or written.
    const message = err.message.slice(0, valueShown) + WITHHELD
    const frames = (err.stack ?? '').split('\n').filter((line) => line.startsWith('    at '))
    set('message', message)
    set('stack', [`${err.name}: ${message}`, ...frames].join('\n'))
  }
  return copy
}

/**
 * An error as one line of plain text (a tool's stderr): its message and its causes', as pino shows them, with
 * a failed query's SQL but never the values bound to it (see withoutQueryValues).
 */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  return pino.stdSerializers.err(withoutQueryValues(err) as Error).message
}

/**
 * Structured JSON logs. Secrets never reach a log line: configuration is logged only as which providers are
 * configured, and the redaction below is a second line of defence for headers that carry credentials.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'hookinbox' },
      serializers: { err: (err: unknown) => pino.stdSerializers.err(withoutQueryValues(err) as Error) },
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
