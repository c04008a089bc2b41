/**
 * A tiny HTTP client for the fault tests, on node:http rather than fetch, so that every way a request can
 * end is visible: a response (status and body), a refused connection (nothing listened), or a connection
 * that was established and then broken (reset, hang-up, cut-off body, timeout). Only loopback URLs.
 */
import { type Agent, request } from 'node:http'

export type PostResult =
  | { kind: 'response'; status: number; text: string }
  | {
      kind: 'error'
      /** ECONNREFUSED, ECONNRESET, EPIPE, ETIMEDOUT, … */
      code: string
      /** Whether a TCP connection was established (false for a refusal). */
      connected: boolean
      /** When the whole request had been handed to the OS (performance.now()), if it had. */
      writtenAt?: number
    }

export interface PostOptions {
  /** `false`: a fresh connection for this request alone (the default); or a keep-alive agent. */
  agent?: Agent | false
  /** The whole request is abandoned (code ETIMEDOUT) after this long. */
  timeoutMs?: number
}

export function assertLoopback(url: string): void {
  const { hostname } = new URL(url)
  if (hostname !== '127.0.0.1') throw new Error(`the fault tests only talk to 127.0.0.1, not ${hostname}`)
}

export function post(
  url: string,
  body: string | Uint8Array,
  headers: Record<string, string>,
  options: PostOptions = {},
): Promise<PostResult> {
  assertLoopback(url)
  const bytes = typeof body === 'string' ? Buffer.from(body) : Buffer.from(body)
  return new Promise<PostResult>((resolve) => {
    let connected = false
    let writtenAt: number | undefined
    let done = false
    const finish = (result: PostResult) => {
      if (done) return
      done = true
      clearTimeout(timer)
      resolve(result)
    }
    const req = request(url, {
      method: 'POST',
      agent: options.agent ?? false,
      headers: { ...headers, 'content-length': String(bytes.byteLength) },
    })
    const timer = setTimeout(() => {
      req.destroy()
      finish({ kind: 'error', code: 'ETIMEDOUT', connected, writtenAt })
    }, options.timeoutMs ?? 30_000)
    req.on('finish', () => {
      writtenAt = performance.now()
    })
    req.on('socket', (socket) => {
      if (!socket.connecting) connected = true
      else socket.once('connect', () => (connected = true))
    })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        finish({ kind: 'response', status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
      )
      res.on('aborted', () => finish({ kind: 'error', code: 'ECONNRESET', connected: true, writtenAt }))
      res.on('error', (err: NodeJS.ErrnoException) =>
        finish({ kind: 'error', code: err.code ?? 'ECONNRESET', connected: true, writtenAt }),
      )
    })
    req.on('error', (err: NodeJS.ErrnoException) =>
      finish({ kind: 'error', code: err.code ?? err.message, connected, writtenAt }),
    )
    req.end(bytes)
  })
}

/** The JSON body of a response, or undefined. */
export function json<T = Record<string, unknown>>(result: PostResult): T | undefined {
  if (result.kind !== 'response') return undefined
  try {
    return JSON.parse(result.text) as T
  } catch {
    return undefined
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** mulberry32: a small seeded PRNG, so a run's random choices can be reproduced from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
