/**
 * Reads a delivery's raw body, refusing one over the limit before it is all read.
 *
 * With a Content-Length (what the providers send) the length is checked first and the body is read through
 * @hono/node-server's direct path. Touching `c.req.raw.body` instead (as Hono's bodyLimit middleware does)
 * makes node-server build a full web Request with a ReadableStream for every delivery, which measured as
 * the largest single cost of a duplicate delivery. A chunked body (no length) is counted as it streams in.
 */
import type { Context } from 'hono'
import { AppError } from '../errors.ts'

const tooLarge = (max: number) => new AppError('payload_too_large', `the body exceeds ${max} bytes`)

export async function readBody(c: Context, maxBytes: number): Promise<Uint8Array> {
  const length = c.req.header('content-length')
  if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
    if (!/^\d{1,15}$/.test(length)) throw new AppError('invalid_request', 'invalid Content-Length')
    if (Number(length) > maxBytes) throw tooLarge(maxBytes)
    return new Uint8Array(await c.req.arrayBuffer())
  }
  const stream = c.req.raw.body
  if (!stream) return new Uint8Array(0)
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel().catch(() => {})
      throw tooLarge(maxBytes)
    }
    chunks.push(value)
  }
  const body = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    body.set(chunk, offset)
    offset += chunk.byteLength
  }
  return body
}
