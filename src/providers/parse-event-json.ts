import { AppError } from '../errors.ts'

/**
 * Parses a verified body as a JSON object. JSON.parse is iterative for nesting in V8 only up to a point, so
 * deep nesting can throw RangeError: that, like any syntax error, is the sender's fault and answers 400.
 */
export function parseEventJson(text: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new AppError('invalid_event', 'the verified body is not valid JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AppError('invalid_event', 'the verified body is not a JSON object')
  }
  return value as Record<string, unknown>
}
