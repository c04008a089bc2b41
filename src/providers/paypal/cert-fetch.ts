/**
 * Downloads a certificate from an already allow-listed URL. Uses node:https directly rather than fetch so
 * redirects are never followed (a 3xx is a failure: following it would undo the URL allow-list), and so
 * the whole exchange has one deadline and one size cap. TLS trust is Node's default (NODE_EXTRA_CA_CERTS
 * applies); `ca` exists so tests can trust a throwaway CA in-process.
 */
import type { ClientRequest } from 'node:http'
import { request } from 'node:https'
import { unavailable } from './failures.ts'

export interface CertFetchOptions {
  /** Deadline for connect + TLS + response, in milliseconds. */
  readonly timeoutMs: number
  /** Largest body accepted, in bytes; the download is aborted as soon as it is exceeded. */
  readonly maxBytes: number
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>
}

/** Resolves with the response body text, or rejects with AppError verification_unavailable/cert_fetch_failed. */
export function fetchCertPem(url: URL, opts: CertFetchOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    let settled = false
    let timer: NodeJS.Timeout | undefined
    let req: ClientRequest | undefined
    const fail = (detail: string, cause?: unknown) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req?.destroy()
      reject(unavailable('cert_fetch_failed', `could not fetch the PayPal certificate (${detail})`, cause))
    }

    try {
      req = request({
        // URL.hostname keeps IPv6 brackets; the socket layer wants the bare address.
        hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: url.port === '' ? 443 : Number(url.port),
        path: url.pathname,
        method: 'GET',
        headers: { accept: 'application/x-pem-file, text/plain, */*', connection: 'close' },
        // A fresh connection per fetch: fetches are rare (certificates are cached) and no pooled socket
        // outlives the request.
        agent: false,
        ...(opts.ca === undefined ? {} : { ca: opts.ca as string | Buffer | Array<string | Buffer> }),
      })
    } catch (err) {
      // Invalid request options throw synchronously; still only an AppError may leave this module.
      fail('invalid request', err)
      return
    }
    timer = setTimeout(() => fail('timed out'), opts.timeoutMs)

    req.on('error', (err) => fail('connection error', err))
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume()
        fail(`HTTP ${res.statusCode}`)
        return
      }
      const declared = Number(res.headers['content-length'])
      if (Number.isFinite(declared) && declared > opts.maxBytes) {
        fail('response too large')
        return
      }
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > opts.maxBytes) {
          fail('response too large')
          return
        }
        chunks.push(chunk)
      })
      res.on('error', (err) => fail('connection error', err))
      res.on('aborted', () => fail('connection closed early'))
      res.on('end', () => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve(Buffer.concat(chunks).toString('utf8'))
      })
    })
    req.end()
  })
}
