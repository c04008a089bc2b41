/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`) into self time per function and per bucket:
 * verification, JSON, SQLite, HTTP, logging, other (other split into hookinbox's own code, metrics,
 * GC and the rest). Idle time is left out of every percentage.
 *
 * Self time of a sample goes to the function on top of the stack. V8 does not give C++ callbacks a frame of
 * their own: time inside a better-sqlite3 statement (including the fsync of a COMMIT) or an HMAC update is
 * charged to the JavaScript function that called it. Statements the inbox runs through
 * src/db/compiled-statement.ts count as SQLite; BEGIN/SAVEPOINT/COMMIT run directly from src/inbox/*.ts count
 * as "hookinbox src" here; read the top functions list with that in mind. Built-ins V8 does show (JSON
 * parse/stringify, writev, …) appear with no script URL and are charged to their caller's bucket.
 */
import { readFileSync } from 'node:fs'

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
}
interface ProfileNode {
  id: number
  callFrame: CallFrame
  parent?: number
  children?: number[]
}
interface CpuProfile {
  startTime: number
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export const BUCKETS = ['verification', 'JSON', 'SQLite', 'HTTP', 'logging', 'other'] as const
export type Bucket = (typeof BUCKETS)[number]
export const OTHER_PARTS = ['hookinbox src', 'metrics (prom-client)', 'zod', 'GC', 'other'] as const

export interface ProfileSummary {
  file: string
  busyMs: number
  idleMs: number
  buckets: Record<Bucket, number>
  otherParts: Record<(typeof OTHER_PARTS)[number], number>
  top: Array<{ name: string; where: string; bucket: string; selfMs: number; share: number }>
  /** Time with the function anywhere on the stack, for hookinbox's code and a few library entry points. */
  inclusive: Array<{ name: string; where: string; ms: number; share: number }>
}

/** Library functions worth an inclusive figure: where request time goes outside src/. */
const INCLUSIVE_LIBRARY = new Set(['bodyLimit', 'verifyHeader', '[getRequestCache]', 'child', 'observe'])

const has = (url: string, ...parts: string[]) => parts.some((p) => url.includes(p))

/** The bucket of a frame, from its script URL (or, for native frames, its caller's and its own name). */
function classify(frame: CallFrame, caller: CallFrame | undefined): { bucket: Bucket; part?: string } {
  const { url, functionName: name } = frame
  if (name === '(garbage collector)') return { bucket: 'other', part: 'GC' }
  if (url === '' && caller && caller.url !== '') {
    // A native function: charge it where its JavaScript caller belongs, except the JSON built-ins.
    if (name === 'parse' || name === 'stringify') return { bucket: 'JSON' }
    return classify(caller, undefined)
  }
  if (name === 'JSON.parse' || name === 'JSON.stringify') return { bucket: 'JSON' }
  if (has(url, '/node_modules/stripe/', 'node:internal/crypto', 'node:crypto'))
    return { bucket: 'verification' }
  // compiled-statement.ts is the one place the inbox calls into better-sqlite3: its frames are SQLite's work.
  if (
    has(url, '/node_modules/better-sqlite3/', '/node_modules/drizzle-orm/', '/src/db/compiled-statement.ts')
  )
    return { bucket: 'SQLite' }
  if (
    has(url, '/node_modules/pino', '/node_modules/sonic-boom/', '/node_modules/thread-stream/', 'fast-redact')
  )
    return { bucket: 'logging' }
  if (
    has(
      url,
      '/node_modules/hono/',
      '/node_modules/@hono/node-server/',
      'node:_http_',
      'node:http',
      'node:net',
      'node:internal/http',
      'node:internal/stream',
      'node:stream',
      'node:internal/streams',
      'node:internal/deps/undici',
      'node:internal/webstreams',
      // A WHATWG Request (made when something touches c.req.raw.body/signal) brings these along.
      'node:internal/abort_controller',
      'node:internal/worker/js_transferable',
    )
  )
    return { bucket: 'HTTP' }
  if (has(url, '/node_modules/prom-client/')) return { bucket: 'other', part: 'metrics (prom-client)' }
  if (has(url, '/node_modules/zod/')) return { bucket: 'other', part: 'zod' }
  if (url.includes('/src/') && !url.includes('/node_modules/'))
    return { bucket: 'other', part: 'hookinbox src' }
  return { bucket: 'other', part: 'other' }
}

function where(frame: CallFrame): string {
  if (!frame.url) return '(native)'
  const short = frame.url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '')
  const trimmed = short.includes('/work/') ? short.replace(/^.*?\/(src|test)\//, '$1/') : short
  // tsx emits each transpiled file with its functions on line 1, so a line number there means nothing.
  return frame.lineNumber > 0 ? `${trimmed}:${frame.lineNumber + 1}` : trimmed
}

/** Whether the profile is the main thread's (the only one that runs hookinbox's code; tsx's loader thread writes its own). */
export function isMainThreadProfile(file: string): boolean {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  return profile.nodes.some(
    (n) => n.callFrame.url.includes('/src/') && !n.callFrame.url.includes('/node_modules/'),
  )
}

/** `window` (monotonic µs, the clock of the samples) keeps only the samples taken during the measured run. */
export function summariseProfile(
  file: string,
  window?: { startUs: number; endUs: number },
  topN = 20,
): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map<number, ProfileNode>()
  for (const node of profile.nodes) byId.set(node.id, node)
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) {
      const c = byId.get(child)
      if (c) c.parent = node.id
    }
  }
  // Sample i lasts until sample i+1 (timeDeltas[i+1] microseconds).
  const selfUs = new Map<number, number>()
  let at = profile.startTime
  for (let i = 0; i < profile.samples.length - 1; i++) {
    at += profile.timeDeltas[i] ?? 0
    if (window && (at < window.startUs || at > window.endUs)) continue
    const id = profile.samples[i] as number
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0))
  }

  // Inclusive: each sample's time goes once to every distinct function on its stack.
  const inclusiveUs = new Map<string, { name: string; where: string; us: number }>()
  for (const [id, us] of selfUs) {
    const seen = new Set<string>()
    for (
      let node = byId.get(id);
      node;
      node = node.parent === undefined ? undefined : byId.get(node.parent)
    ) {
      const frame = node.callFrame
      const ours = frame.url.includes('/src/') && !frame.url.includes('/node_modules/')
      if (!ours && !INCLUSIVE_LIBRARY.has(frame.functionName)) continue
      const key = `${frame.functionName}@${where(frame)}`
      if (seen.has(key)) continue
      seen.add(key)
      const entry = inclusiveUs.get(key) ?? {
        name: frame.functionName || '(anonymous)',
        where: where(frame),
        us: 0,
      }
      entry.us += us
      inclusiveUs.set(key, entry)
    }
  }

  const buckets = Object.fromEntries(BUCKETS.map((b) => [b, 0])) as Record<Bucket, number>
  const otherParts = Object.fromEntries(OTHER_PARTS.map((p) => [p, 0])) as ProfileSummary['otherParts']
  const functions = new Map<string, { name: string; where: string; bucket: string; us: number }>()
  let idleUs = 0
  let busyUs = 0
  for (const [id, us] of selfUs) {
    const node = byId.get(id)
    if (!node) continue
    const frame = node.callFrame
    if (frame.functionName === '(idle)') {
      idleUs += us
      continue
    }
    busyUs += us
    const caller = node.parent === undefined ? undefined : byId.get(node.parent)?.callFrame
    const { bucket, part } =
      frame.functionName === '(program)'
        ? { bucket: 'other' as const, part: 'other' }
        : classify(frame, caller)
    buckets[bucket] += us
    if (part) otherParts[part as keyof typeof otherParts] += us
    const name = frame.functionName || '(anonymous)'
    const key = `${name}@${where(frame)}`
    const entry = functions.get(key) ?? {
      name,
      where: where(frame),
      bucket: part ? `other: ${part}` : bucket,
      us: 0,
    }
    entry.us += us
    functions.set(key, entry)
  }
  const top = [...functions.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, topN)
    .map((f) => ({
      name: f.name,
      where: f.where,
      bucket: f.bucket,
      selfMs: f.us / 1000,
      share: f.us / busyUs,
    }))
  const inclusive = [...inclusiveUs.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, topN)
    .map((f) => ({ name: f.name, where: f.where, ms: f.us / 1000, share: f.us / busyUs }))
  const toMs = <T extends Record<string, number>>(o: T) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v / 1000])) as T
  return {
    file,
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    buckets: toMs(buckets),
    otherParts: toMs(otherParts),
    top,
    inclusive,
  }
}

export function formatProfile(summary: ProfileSummary, scenario = 1): string {
  const pct = (ms: number) => `${((100 * ms) / summary.busyMs).toFixed(1).padStart(5)} %`
  const lines = [
    `CPU profile of the service during scenario (${scenario}): ${summary.file}`,
    `samples of the measured run only (start-up and warm-up left out): busy ${(summary.busyMs / 1000).toFixed(2)} s, idle ${(summary.idleMs / 1000).toFixed(2)} s (idle excluded below)`,
    '',
    'self time by bucket',
    ...BUCKETS.map(
      (b) => `  ${b.padEnd(14)} ${pct(summary.buckets[b])}  ${summary.buckets[b].toFixed(0).padStart(7)} ms`,
    ),
    '  other, split:',
    ...OTHER_PARTS.map((p) => `    ${p.padEnd(22)} ${pct(summary.otherParts[p])}`),
    '  (C++ callbacks have no frame of their own: a better-sqlite3 statement run from src/ counts as src)',
    '',
    'top functions by self time',
    ...summary.top.map(
      (f) =>
        `  ${pct(f.selfMs)}  ${f.name.slice(0, 34).padEnd(34)} ${f.bucket.padEnd(28)} ${f.where.slice(0, 70)}`,
    ),
    '',
    "inclusive time (the function anywhere on the stack): hookinbox's code and a few library entry points",
    ...summary.inclusive.map(
      (f) => `  ${pct(f.ms)}  ${f.name.slice(0, 34).padEnd(34)} ${f.where.slice(0, 70)}`,
    ),
  ]
  return lines.join('\n')
}
