/**
 * Reads a delivery's raw body, refusing one over the limit before it is all read.
 *
 * With a Content-Length (what the providers send) the length is checked first and the body is read through
 * @hono/node-server's direct path. Touching `c.req.raw.body` instead (as Hono's bodyLimit middleware does)
 * makes node-server build a full web Request with a ReadableStream for every delivery, which measured as
 * the largest single cost of a duplicate delivery. A chunked body (no length) is counted as it streams in.
 *
 * A client that hangs up (or is cut off by the server's request timeout) before its body is complete makes
 * the read reject with Node's `Error: aborted`. That is the client's doing, not a fault of the service, so
 * it becomes a `client_aborted` AppError instead of an internal error logged with a stack.
 */
import type { HttpBindings } from '@hono/node-server'
import type { Context } from 'hono'
import { AppError } from '../errors.ts'

const tooLarge = (max: number) => new AppError('payload_too_large', `the body exceeds ${max} bytes`)

/**
 * Judged from the connection rather than the error: node-server rejects with Node's error, its own
 * "prematurely closed" one, or (through the web stream) the abort reason as a bare string.
 */
function whyReadFailed(c: Context, err: unknown): unknown {
  const incoming = (c.env as Partial<HttpBindings> | undefined)?.incoming
  if (incoming === undefined || incoming.complete || !incoming.destroyed) return err
  return new AppError('client_aborted', 'the client closed the connection before the body was complete', {
    cause: err,
  })
}

export async function readBody(c: Context, maxBytes: number): Promise<Uint8Array> {
  const length = c.req.header('content-length')
  if (length !== undefined && c.req.header('transfer-encoding') === undefined) {
    if (!/^\d{1,15}$/.test(length)) throw new AppError('invalid_request', 'invalid Content-Length')
    if (Number(length) > maxBytes) throw tooLarge(maxBytes)
    try {
      return new Uint8Array(await c.req.arrayBuffer())
    } catch (err) {
      throw whyReadFailed(c, err)
    }
  }
  const stream = c.req.raw.body
  if (!stream) return new Uint8Array(0)
  const reader = stream.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>
    try {
      next = await reader.read()
    } catch (err) {
      throw whyReadFailed(c, err)
    }
    const { done, value } = next
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
