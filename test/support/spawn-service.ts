/**
 * Runs the service as a real process (`node --import tsx src/server.ts`, exactly what `npm start` runs), for
 * tests about start-up failures, signals and crashes.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { PROJECT_ROOT } from './temp-dir.ts'

export interface SpawnedService {
  proc: ChildProcess
  url: string
  port: number
  output: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** Runs an entry (`src/server.ts` is `npm start`, `src/dev.ts` is `npm run dev`) as a real process. */
export function runServer(env: Record<string, string>, cwd = PROJECT_ROOT, entry = 'src/server.ts') {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, entry)], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  proc.stdout?.on('data', (d) => {
    out += d
  })
  proc.stderr?.on('data', (d) => {
    out += d
  })
  // 'close', not 'exit': only then has all of the process's output been read (tests read it afterwards).
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('close', (code, signal) => resolve({ code, signal })),
  )
  return { proc, output: () => out, exited }
}

/** Starts the server on a free loopback port and resolves once it listens. */
export async function spawnService(env: Record<string, string>, cwd?: string): Promise<SpawnedService> {
  const run = runServer({ HOST: '127.0.0.1', PORT: '0', ...env }, cwd)
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not start:\n${run.output()}`)), 20_000)
    const onData = () => {
      const m = /"port":(\d+)[^\n]*"msg":"hookinbox listening"/.exec(run.output())
      if (m) {
        clearTimeout(timer)
        run.proc.stdout?.off('data', onData)
        resolve(Number(m[1]))
      }
    }
    run.proc.stdout?.on('data', onData)
    run.exited.then(() => {
      clearTimeout(timer)
      reject(new Error(`service exited during start-up:\n${run.output()}`))
    })
  })
  return { ...run, port, url: `http://127.0.0.1:${port}` }
}

/** Kills a service a test left running (it failed before its own stop), and waits for it to be gone. */
export async function killIfRunning(svc: SpawnedService | undefined): Promise<void> {
  if (!svc || svc.proc.exitCode !== null || svc.proc.signalCode !== null) return
  svc.proc.kill('SIGKILL')
  await svc.exited
}
