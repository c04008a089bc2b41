/**
 * Idle keep-alive connections stay open for KEEP_ALIVE_TIMEOUT_MS (620 s by default), not Node's 5 s: a proxy
 * in front keeps its idle connections to hookinbox for up to its own idle timeout (60 s to 600 s), and one
 * closed by hookinbox before that makes the proxy's next request on it meet a reset (a 502 to the provider).
 *
 * A raw socket sends two requests on one connection with an idle pause between them, as a proxy reusing its
 * connection does.
 */
import { connect } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { startTestService, type TestService } from '../support/test-service.ts'

const REQUEST = 'GET /healthz HTTP/1.1\r\nHost: hookinbox\r\n\r\n'

interface Exchange {
  /** Answers received so far on the connection. */
  answers(): number
  closed(): boolean
  write(text: string): void
  destroy(): void
}

function openConnection(url: string): Promise<Exchange> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    let received = ''
    let closed = false
    const socket = connect(Number(port), hostname, () =>
      resolve({
        answers: () => received.match(/HTTP\/1\.1 200 /g)?.length ?? 0,
        closed: () => closed,
        write: (text) => socket.write(text),
        destroy: () => socket.destroy(),
      }),
    )
    socket.setEncoding('utf8')
    socket.on('data', (chunk) => {
      received += chunk
    })
    socket.on('close', () => {
      closed = true
    })
    socket.on('error', reject)
  })
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function until(condition: () => boolean, ms = 5000) {
  const deadline = Date.now() + ms
  while (!condition() && Date.now() < deadline) await sleep(20)
}

let svc: TestService | undefined
afterEach(async () => {
  await svc?.dispose()
  svc = undefined
})

describe('idle keep-alive connections', () => {
  it('are still open after an idle pause longer than Node’s default (5 s)', async () => {
    svc = await startTestService()
    const connection = await openConnection(svc.url)
    try {
      connection.write(REQUEST)
      await until(() => connection.answers() === 1)
      expect(connection.answers()).toBe(1)
      // Node closes an idle connection about a second after its keepAliveTimeout: 5 s would be gone by now.
      // Past the 10 s headers and request timeouts too, which must not cut an idle connection either.
      await sleep(11_500)
      expect(connection.closed()).toBe(false)
      connection.write(REQUEST)
      await until(() => connection.answers() === 2)
      expect(connection.answers()).toBe(2)
    } finally {
      connection.destroy()
    }
  }, 20_000)

  it('do not hold up a stop: the service closes them and stops (it would wait 620 s otherwise)', async () => {
    const service = await startTestService()
    const connection = await openConnection(service.url)
    try {
      connection.write(REQUEST)
      await until(() => connection.answers() === 1)
      await service.dispose()
      await until(() => connection.closed())
      expect(connection.closed()).toBe(true)
    } finally {
      connection.destroy()
    }
  }, 20_000)

  it('are closed after KEEP_ALIVE_TIMEOUT_MS', async () => {
    svc = await startTestService({ env: { KEEP_ALIVE_TIMEOUT_MS: '1000' } })
    const connection = await openConnection(svc.url)
    try {
      connection.write(REQUEST)
      await until(() => connection.answers() === 1)
      expect(connection.answers()).toBe(1)
      // Closed in about 2 s; Node's default would keep it for 6.
      await until(() => connection.closed(), 4000)
      expect(connection.closed()).toBe(true)
    } finally {
      connection.destroy()
    }
  }, 20_000)
})
