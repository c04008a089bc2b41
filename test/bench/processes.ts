/**
 * Child processes under test: the real service (exactly what `npm start` runs), the two reference servers
 * and the seed-pattern server. Each listens on its own loopback port, which the bench picks itself: the
 * service runs at LOG_LEVEL=warn, so its "hookinbox listening" line (info) never appears; readiness is
 * polled on GET /healthz instead.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const BENCH_DIR = join(PROJECT_ROOT, 'test', 'bench')
export const CACHE_DIR = join(BENCH_DIR, 'cache')
export const RESULTS_DIR = join(BENCH_DIR, 'results')

/**
 * A scratch folder inside the project (test/bench/cache is git-ignored): handler files written there resolve
 * drizzle-orm from the project's node_modules, and `--import tsx` resolves from it as the child's cwd. Being
 * the cwd also keeps a developer's `.env` in the project root out of the measured configuration.
 */
export function scratchDir(prefix: string): { path: string; remove(): void } {
  const root = join(CACHE_DIR, 'runs')
  mkdirSync(root, { recursive: true })
  const path = mkdtempSync(join(root, `${prefix}-`))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Peak memory of a process: VmHWM is the kernel's own high-water mark; VmRSS is sampled every 100 ms. */
export class RssSampler {
  private maxRss = 0
  private timer: NodeJS.Timeout | undefined
  /** VmRSS when sampling started (the process had just answered /healthz): its baseline before any load. */
  readonly startRss: number

  constructor(private readonly pid: number) {
    this.startRss = this.read()?.rss ?? 0
    this.sample()
    this.timer = setInterval(() => this.sample(), 100)
    this.timer.unref()
  }

  private read(): { rss: number; hwm: number } | undefined {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8')
      const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0)
      return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024 }
    } catch {
      return undefined // the process has exited
    }
  }

  private sample() {
    const now = this.read()
    if (now) this.maxRss = Math.max(this.maxRss, now.rss, now.hwm)
  }

  /** Bytes: the larger of VmHWM (peak since the process started) and the largest sampled VmRSS. */
  peak(): number {
    this.sample()
    return this.maxRss
  }

  stop(): number {
    const peak = this.peak()
    clearInterval(this.timer)
    return peak
  }
}

/**
 * CPU seconds (user + system) the main thread of a process has used so far (clock ticks of 10 ms). Only the
 * main thread: the JavaScript runs there, while V8's profiler thread (under --cpu-prof) and tsx's loader
 * thread keep using a little CPU that would make an idle process look busy.
 */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8')
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return undefined
  }
}

/**
 * Waits until a process's main thread has used under 5 % of a core for half a second (start-up work such as the
 * service's first retention pass is done), at most `maxMs`. Resolves with the seconds it stayed busy.
 */
export async function waitUntilIdle(pid: number, maxMs = 180_000): Promise<number> {
  const started = performance.now()
  let windowStart = performance.now()
  let windowCpu = cpuSeconds(pid) ?? 0
  for (;;) {
    await new Promise((r) => setTimeout(r, 500))
    const now = performance.now()
    const cpu = cpuSeconds(pid)
    if (cpu === undefined) return (now - started) / 1000
    if ((cpu - windowCpu) / ((now - windowStart) / 1000) < 0.05) return (windowStart - started) / 1000
    if (now - started > maxMs) return (now - started) / 1000
    windowStart = now
    windowCpu = cpu
  }
}

export interface Child {
  name: string
  proc: ChildProcess
  pid: number
  url: string
  rss: RssSampler
  /** Seconds from spawn until GET /healthz first answered 200 (start-up, migrations, anything blocking). */
  readySeconds: number
  output(): string
  /** SIGTERM (the service drains and commits), SIGKILL after 20 s; resolves with the exit code. */
  stop(): Promise<number | null>
  /** SIGKILL at once, for a process stuck in work the bench no longer needs. */
  kill(): Promise<number | null>
}

export interface SpawnOptions {
  name: string
  /** Node flags and the script, e.g. ['--import', 'tsx', 'src/server.ts']. */
  args: string[]
  env: Record<string, string>
  cwd: string
  readyPath?: string
}

export async function spawnChild(options: SpawnOptions): Promise<Child> {
  const port = await freePort()
  const spawnedAt = performance.now()
  const proc = spawn(process.execPath, options.args, {
    cwd: options.cwd,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  // Keep only the tail: at LOG_LEVEL=warn nothing should be printed per request, but never grow unbounded.
  const append = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000)
  }
  proc.stdout?.on('data', append)
  proc.stderr?.on('data', append)
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  let hasExited = false
  void exited.then(() => {
    hasExited = true
  })

  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 180_000
  for (;;) {
    if (hasExited) throw new Error(`${options.name} exited during start-up:\n${out}`)
    if (Date.now() > deadline) {
      proc.kill('SIGKILL')
      throw new Error(`${options.name} did not become ready in 180 s:\n${out}`)
    }
    try {
      const res = await fetch(`${url}${options.readyPath ?? '/healthz'}`)
      await res.arrayBuffer()
      if (res.ok) break
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50))
  }

  const readySeconds = (performance.now() - spawnedAt) / 1000
  const pid = proc.pid as number
  const rss = new RssSampler(pid)
  return {
    name: options.name,
    proc,
    pid,
    url,
    rss,
    readySeconds,
    output: () => out,
    async kill() {
      rss.stop()
      if (!hasExited) proc.kill('SIGKILL')
      return exited
    },
    async stop() {
      rss.stop()
      if (hasExited) return exited
      proc.kill('SIGTERM')
      const hard = setTimeout(() => proc.kill('SIGKILL'), 20_000)
      const code = await exited
      clearTimeout(hard)
      return code
    },
  }
}

/** The node flags of `npm start` (read from package.json), so the bench measures the service as users start it. */
export const START_NODE_FLAGS: string[] = (() => {
  const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>
  }
  // `exec node …`: the shell npm runs the script in becomes node, so npm's signals reach it.
  const words = (pkg.scripts.start ?? '').split(/\s+/).filter((word, i) => !(i === 0 && word === 'exec'))
  const end = words.indexOf('--import')
  if (words[0] !== 'node' || end < 0) throw new Error(`unexpected start script: ${pkg.scripts.start}`)
  return words.slice(1, end)
})()

/** `node <start flags> --import tsx src/server.ts`, exactly what `npm start` runs, plus extra flags (profiling). */
export function serviceArgs(nodeFlags: string[] = []): string[] {
  return [...START_NODE_FLAGS, ...nodeFlags, '--import', 'tsx', join(PROJECT_ROOT, 'src', 'server.ts')]
}

export function benchScriptArgs(script: string): string[] {
  return ['--import', 'tsx', join(BENCH_DIR, script)]
}
