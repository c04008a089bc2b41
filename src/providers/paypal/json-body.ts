/**
 * A delivery body as one JSON object. Decoding is strict (invalid UTF-8 is refused, not patched with U+FFFD)
 * so the text handed on is exactly the bytes that arrived.
 */
import { jsonNestingExceeds } from '../parse-event-json.ts'

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * The body as JSON object text and value, or undefined when it is not exactly one JSON object in valid
 * UTF-8, or nests deeper than MAX_JSON_DEPTH (it could not be stored or shown later). API mode depends on
 * this before splicing the text into its request: text such as `{},"webhook_id":"X"` would otherwise inject
 * fields of the attacker's choosing.
 */
export function jsonObjectText(
  body: Uint8Array,
): { text: string; value: Record<string, unknown> } | undefined {
  try {
    const text = decoder.decode(body)
    const value: unknown = JSON.parse(text)
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
    if (jsonNestingExceeds(text)) return undefined
    return { text, value: value as Record<string, unknown> }
  } catch {
    return undefined
  }
}
