/**
 * A loopback TCP proxy that a test can cut and restore, to play a database that goes away and comes back.
 */
import net from 'node:net'

export interface TcpProxy {
  port: number
  /** Closes the listener and destroys every open connection. */
  cut(): Promise<void>
  /** Listens again on the same port. */
  restore(): Promise<void>
  /**
   * While on, answers new sessions as a PostgreSQL at max_connections does ("sorry, too many clients
   * already"), while open connections go on and cancel requests (which take no session) still get through.
   */
  refuseSessions(on: boolean): void
  /**
   * While on, every byte either way is dropped, and connections stay open: a database behind a network
   * partition, or hung, that never closes them.
   */
  stall(on: boolean): void
  close(): Promise<void>
}

/** PostgreSQL's CancelRequest code, in the place of a startup packet's protocol version. */
const CANCEL_REQUEST_CODE = 80877102

/** A FATAL ErrorResponse with SQLSTATE 53300, as PostgreSQL sends it when it has no session slot left. */
function tooManyClients(): Buffer {
  const fields = Buffer.from('SFATAL\0VFATAL\0C53300\0Msorry, too many clients already\0\0', 'utf8')
  const header = Buffer.alloc(5)
  header.write('E', 0)
  header.writeInt32BE(fields.length + 4, 1)
  return Buffer.concat([header, fields])
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>()
  let server: net.Server | undefined
  let port = 0
  let refusing = false
  let stalled = false
  const forward = (client: net.Socket, first?: Buffer) => {
    const upstream = net.connect(targetPort, targetHost)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {
        client.destroy()
        upstream.destroy()
      })
    }
    if (first && !stalled) upstream.write(first)
    const relay = (from: net.Socket, to: net.Socket) =>
      from.on('data', (chunk) => {
        if (!stalled) to.write(chunk)
      })
    relay(client, upstream)
    relay(upstream, client)
  }
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const listener = net.createServer((client) => {
        if (!refusing) return forward(client)
        client.on('error', () => client.destroy())
        client.once('data', (first) => {
          if (first.length >= 8 && first.readInt32BE(4) === CANCEL_REQUEST_CODE) return forward(client, first)
          client.end(tooManyClients())
        })
      })
      server = listener
      listener.once('error', reject)
      listener.listen(port, '127.0.0.1', () => {
        port = (listener.address() as net.AddressInfo).port
        resolve()
      })
    })
  const cut = async () => {
    const s = server
    server = undefined
    for (const socket of sockets) socket.destroy()
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()))
  }
  await listen()
  return {
    get port() {
      return port
    },
    cut,
    restore: listen,
    refuseSessions(on) {
      refusing = on
    },
    stall(on) {
      stalled = on
    },
    close: cut,
  }
}
