import { AppError } from '../errors.ts'

/**
 * Deepest nesting of objects and arrays accepted in a delivery body. Real events nest about ten levels.
 * V8's JSON.parse handles any depth, but JSON.stringify recurses and throws RangeError at a few thousand
 * levels, so a deeper (validly signed) body would fail later, when it is stored or shown to an operator.
 */
export const MAX_JSON_DEPTH = 128

/**
 * Whether JSON text nests objects/arrays deeper than `maxDepth`. Meant for text JSON.parse already accepted,
 * so brackets inside strings are the only ones to skip.
 */
export function jsonNestingExceeds(text: string, maxDepth = MAX_JSON_DEPTH): boolean {
  // Nesting needs an opening bracket per level: with few brackets in all (real events have dozens), the
  // answer is known after two native searches, without the character loop below.
  let brackets = 0
  for (const open of ['{', '[']) {
    for (let i = text.indexOf(open); i !== -1 && brackets <= maxDepth; i = text.indexOf(open, i + 1))
      brackets++
  }
  if (brackets <= maxDepth) return false
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      // A backslash escapes the next character (possibly a quote); a bare quote ends the string.
      if (c === 0x5c) i++
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x7b || c === 0x5b) {
      depth++
      if (depth > maxDepth) return true
    } else if (c === 0x7d || c === 0x5d) {
      depth--
    }
  }
  return false
}

/**
 * Parses a verified body as a JSON object. A syntax error, or nesting deeper than MAX_JSON_DEPTH, is the
 * sender's fault and answers 400.
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
  if (jsonNestingExceeds(text)) {
    throw new AppError('invalid_event', `the verified body nests deeper than ${MAX_JSON_DEPTH} levels`)
  }
  return value as Record<string, unknown>
}
