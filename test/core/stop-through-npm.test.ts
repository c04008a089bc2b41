/**
 * `npm start` (and `npm run dev`) stop gracefully when the signal goes to npm, as `docker stop` sends it to a
 * container whose command is `npm start`. npm passes SIGTERM on to the shell it runs the script in; a shell
 * that is still there dies of it and leaves node running on, orphaned, with its port. The scripts `exec`
 * node, so node is the one that gets the signal.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { connect } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { PROJECT_ROOT, tempDir } from '../support/temp-dir.ts'

const running: ChildProcess[] = []
const cleanups: Array<() => void> = []
afterEach(() => {
  // A test that failed may leave npm, its shell or node behind: the whole process group goes.
  for (const proc of running.splice(0)) {
    try {
      if (proc.pid !== undefined) process.kill(-proc.pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  for (const cleanup of cleanups.splice(0)) cleanup()
})

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.once('error', () => resolve(true))
  })

async function startThroughNpm(script: string[]) {
  const dir = tempDir('npm-stop')
  cleanups.push(dir.remove)
  const proc = spawn('npm', script, {
    cwd: PROJECT_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      DATABASE_URL: join(dir.path, 'db.sqlite'),
      npm_config_update_notifier: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so that a failed test can remove all of it; signals below go to npm alone.
    detached: true,
  })
  running.push(proc)
  let output = ''
  proc.stdout?.on('data', (d) => {
    output += d
  })
  proc.stderr?.on('data', (d) => {
    output += d
  })
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)))
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not start:\n${output}`)), 30_000)
    const look = () => {
      const m = /"port":(\d+)[^\n]*"msg":"hookinbox listening"/.exec(output)
      if (m) {
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    }
    proc.stdout?.on('data', look)
    void exited.then(() => reject(new Error(`exited during start-up:\n${output}`)))
  })
  return { proc, port, exited, output: () => output }
}

describe('stopping through npm', () => {
  it.each([[['start']], [['run', 'dev']]])(
    'SIGTERM to `npm %s` stops the service gracefully and frees its port',
    async (script) => {
      const service = await startThroughNpm(script)
      expect(await refused(service.port)).toBe(false)
      service.proc.kill('SIGTERM')
      await service.exited
      // Logged by node's own handler: it got the signal, finished and closed the database.
      await expect.poll(() => service.output(), { timeout: 10_000 }).toContain('"msg":"hookinbox stopped"')
      await expect.poll(() => refused(service.port), { timeout: 10_000 }).toBe(true)
    },
  )
})
