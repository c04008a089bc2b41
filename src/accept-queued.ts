/**
 * Before a stop closes the listener: accepts the connections waiting in its listen queue.
 *
 * The kernel completes connections on its own while the event loop is busy (a handler blocking it, a long
 * synchronous step), and their clients send their requests in full. Closing the listener resets every
 * connection still queued, so a provider would see a broken connection for a delivery it sent before the
 * stop. Node takes them from the queue one at a time, a millisecond or so apart (measured on Node 20), so
 * the listener stays open while the kernel reports any queued, for at most `maxMs`: a steady stream of new
 * connections must not hold the stop up. Where the queue cannot be read (not Linux), nothing is waited for.
 */
import { readFileSync } from 'node:fs'
import type { Server } from 'node:net'

const LISTEN = '0A'

/**
 * How many connections wait in the accept queue of the listener on `port`: for a listening socket,
 * /proc/net/tcp's rx_queue is the kernel's accept backlog. Undefined where the file cannot be read.
 */
export function queuedConnections(port: number): number | undefined {
  let queued: number | undefined
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let table: string
    try {
      table = readFileSync(file, 'latin1')
    } catch {
      continue
    }
    queued ??= 0
    for (const line of table.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue …; the address is hex, then ':' and the hex port.
      const [, local, , state, queues] = line.trim().split(/\s+/)
      if (state !== LISTEN || !local || !queues) continue
      if (Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16) !== port) continue
      queued += Number.parseInt(queues.slice(queues.indexOf(':') + 1), 16) || 0
    }
  }
  return queued
}

export async function acceptQueued(server: Server, maxMs = 500): Promise<void> {
  const address = server.address()
  if (address === null || typeof address === 'string') return
  const until = performance.now() + maxMs
  while (performance.now() < until && (queuedConnections(address.port) ?? 0) > 0) {
    await new Promise((resolve) => setTimeout(resolve, 1))
  }
}
