/**
 * Crash-safety scenario against the real process (`node --import tsx src/server.ts`): a stream of distinct
 * signed Stripe events from many concurrent clients, a second client resending a share of them, SIGKILL at
 * seeded moments, a restart on the same SQLite file, and every delivery retried the way a provider retries
 * (until it gets a 2xx). The database is read directly right after every kill (before the restart can touch
 * it) and once more at the end.
 *
 * Used by test/chaos/crash-safety.test.ts (the full run, `npm run test:chaos`) and by
 * test/concurrency/crash-safety-quick.test.ts (one kill, part of `npm test`).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { Agent } from 'node:http'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { json, post, seededRandom, sleep } from '../concurrency/support/http-client.ts'
import { type SpawnedService, spawnService } from '../support/spawn-service.ts'
import { STRIPE_SECRET, stripeSignature } from '../support/stripe-signing.ts'
import { tempDir } from '../support/temp-dir.ts'
import { EFFECTS_TABLE_SQL, effectHandler } from '../support/test-service.ts'

export interface CrashRunOptions {
  label: string
  seed: number
  events: number
  /** Concurrent clients sending the stream (each sends one event at a time, until it gets a 2xx). */
  clients: number
  /** Share of the events the second client resends (0.2 = 20 %). */
  duplicateShare: number
  /** Concurrency of the second (resending) client. */
  duplicateClients: number
  kills: number
  /** The whole run, kills and restarts included, must finish within this. */
  deadlineMs: number
  /** Keep the scratch folder (database, logs) even when the run passed. */
  keepDir?: boolean
}

export interface KillRecord {
  round: number
  /** Acknowledged events that triggered this kill. */
  threshold: number
  /** Distinct events that had a 2xx when the process was gone (all of them checked on disk). */
  ackedBeforeKill: number
  /** Requests open at the moment of the SIGKILL. */
  inFlightAtKill: number
  /** From the SIGKILL to the restarted service listening. */
  downMs: number
}

export interface CrashRunReport {
  label: string
  seed: number
  events: number
  kills: KillRecord[]
  /** Effect rows in the database at the end (must equal `events`). */
  effects: number
  /** 2xx answers that said `duplicate: true` during the stream (resends, and retries of committed events). */
  duplicatesSuppressed: number
  /** Requests repeated after a refused, broken or 5xx attempt. */
  retries: number
  /** Why the attempts before those retries failed: refused (nothing listening), broken connection, 5xx. */
  failedAttempts: { refused: number; broken: number; serverError: number }
  /** Events whose processing committed but whose `duplicate:false` answer never arrived (lost to a kill). */
  answersLostToKills: number
  /** The final resend of every event: how many came back `duplicate: true, status: processed`. */
  finalResendDuplicates: number
  requests: number
  /** Sum of the `duplicates` column (best effort in the service: the last sightings before a kill may go). */
  duplicatesRecorded: number
  durationMs: number
  /** Where the time went: first start, the stream (kills and restarts included), the final resend, the stop. */
  phasesMs: { start: number; stream: number; finalResend: number; stop: number }
  dir: string
  violations: string[]
}

const ms = (n: number) => `${(n / 1000).toFixed(1)}s`

export function summaryLine(r: CrashRunReport): string {
  return [
    `[${r.label}] seed=${r.seed}`,
    `events=${r.events}`,
    `kills=${r.kills.length}`,
    `acked-before-kill=${r.kills.map((k) => k.ackedBeforeKill).join('/') || '-'}`,
    `in-flight-at-kill=${r.kills.map((k) => k.inFlightAtKill).join('/') || '-'}`,
    `effects=${r.effects}`,
    `duplicates-suppressed=${r.duplicatesSuppressed}`,
    `retries=${r.retries} (after refused ${r.failedAttempts.refused}, broken ${r.failedAttempts.broken}, 5xx ${r.failedAttempts.serverError})`,
    `answers-lost-to-kills=${r.answersLostToKills}`,
    `final-resend=${r.finalResendDuplicates}/${r.events} duplicates`,
    `requests=${r.requests}`,
    `downtime=${r.kills.map((k) => `${(k.downMs / 1000).toFixed(1)}s`).join('/') || '-'}`,
    `duration=${(r.durationMs / 1000).toFixed(1)}s`,
    `(start ${ms(r.phasesMs.start)}, stream ${ms(r.phasesMs.stream)}, final resend ${ms(r.phasesMs.finalResend)}, stop ${ms(r.phasesMs.stop)})`,
    `violations=${r.violations.length}`,
  ].join(' ')
}

/** CHAOS_SEED when set (a failing run prints its seed), otherwise a fresh one. */
export function chaosSeed(): number {
  const fromEnv = process.env.CHAOS_SEED
  if (fromEnv !== undefined && fromEnv !== '') {
    const n = Number(fromEnv)
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`CHAOS_SEED must be a non-negative integer`)
    return n
  }
  return Math.floor(Math.random() * 2 ** 31)
}

function shuffle<T>(items: T[], rnd: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    ;[items[i], items[j]] = [items[j] as T, items[i] as T]
  }
  return items
}

export async function runCrashScenario(o: CrashRunOptions): Promise<CrashRunReport> {
  const started = performance.now()
  const deadline = started + o.deadlineMs
  const rnd = seededRandom(o.seed)
  const violations: string[] = []
  const violate = (message: string) => {
    if (violations.length < 200) violations.push(message)
  }

  // --- the plan: every random choice is drawn here, from the seed, before anything runs
  const N = o.events
  const ids = Array.from({ length: N }, (_, i) => `evt_chaos_${o.seed}_${i}`)
  const created = Math.floor(Date.now() / 1000)
  const bodies = ids.map((id, i) =>
    JSON.stringify({
      id,
      object: 'event',
      type: 'checkout.session.completed',
      created,
      data: { object: { id: `cs_chaos_${i}`, object: 'checkout.session', amount_total: 100 + i } },
    }),
  )
  const order = shuffle(
    Array.from({ length: N }, (_, i) => i),
    rnd,
  )
  const resent = new Set(
    shuffle(
      Array.from({ length: N }, (_, i) => i),
      rnd,
    ).slice(0, Math.floor(N * o.duplicateShare)),
  )
  const resendDelay = Array.from({ length: N }, () => Math.floor(rnd() * 40))
  const thresholds = Array.from({ length: o.kills }, (_, k) =>
    Math.max(1, Math.floor(N * (0.08 + (0.8 * (k + rnd())) / o.kills))),
  )
  const killDelay = Array.from({ length: o.kills }, () => Math.floor(rnd() * 25))

  // --- the service
  const dir = tempDir(`chaos-${o.seed}`)
  const handlersDir = join(dir.path, 'handlers')
  mkdirSync(handlersDir)
  writeFileSync(join(handlersDir, 'effect.ts'), effectHandler())
  const dbPath = join(dir.path, 'hookinbox.db')
  const pre = new Database(dbPath)
  pre.exec(EFFECTS_TABLE_SQL) // no unique constraint: a second run of the handler would show as a second row
  pre.close()
  const env = {
    DATABASE_URL: dbPath,
    HANDLERS_DIR: handlersDir,
    STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    SQLITE_SYNCHRONOUS: 'FULL',
    LOG_LEVEL: 'info',
  }
  const outputs: string[] = []
  /** Set when the run cannot go on (the service died on its own, a restart failed): every loop stops. */
  let fatal: Error | undefined
  const expectedExits = new WeakSet<SpawnedService>()
  const watch = (s: SpawnedService) => {
    s.exited.then((exit) => {
      if (expectedExits.has(s)) return
      fatal ??= new Error(
        `the service exited on its own: ${JSON.stringify(exit)}\n${s.output().slice(-3000)}`,
      )
    })
    return s
  }
  let svc: SpawnedService = watch(await spawnService(env))
  const phasesMs = { start: Math.round(performance.now() - started), stream: 0, finalResend: 0, stop: 0 }
  let phaseStarted = performance.now()
  const endPhase = (name: 'stream' | 'finalResend' | 'stop') => {
    phasesMs[name] = Math.round(performance.now() - phaseStarted)
    phaseStarted = performance.now()
  }
  const port = svc.port
  let url = svc.url
  const agent = new Agent({ keepAlive: true, maxSockets: o.clients + o.duplicateClients + 4 })

  async function restart(): Promise<SpawnedService> {
    try {
      // The same port, as a provider keeps the same URL; a fresh one if it was taken meanwhile.
      return await spawnService({ ...env, PORT: String(port) })
    } catch (err) {
      if (!/EADDRINUSE/.test(String(err))) throw err
      return spawnService(env)
    }
  }

  // --- bookkeeping
  const acked = new Uint8Array(N)
  const freshAnswers = new Uint16Array(N)
  let ackedCount = 0
  let requests = 0
  let retries = 0
  const failedAttempts = { refused: 0, broken: 0, serverError: 0 }
  let inFlight = 0
  let duplicatesSuppressed = 0
  const kills: KillRecord[] = []
  let killsStarted = 0
  let killing: Promise<void> | undefined

  function readDb<T>(read: (db: Database.Database) => T): T {
    const db = new Database(dbPath, { readonly: true, fileMustExist: true })
    try {
      return read(db)
    } finally {
      db.close()
    }
  }

  /** Reads the file directly: the acknowledged events are processed with one effect; effects match records. */
  function checkOnDisk(indexes: Iterable<number>, when: string) {
    readDb((db) => {
      const status = db.prepare(
        "SELECT status FROM hookinbox_events WHERE provider = 'stripe' AND event_id = ?",
      )
      const effects = db.prepare('SELECT count(*) AS n FROM test_effects WHERE event_id = ?')
      for (const i of indexes) {
        const row = status.get(ids[i]) as { status: string } | undefined
        if (row?.status !== 'processed')
          violate(`${when}: ${ids[i]} was acknowledged but is ${row ? row.status : 'missing'} on disk`)
        const n = (effects.get(ids[i]) as { n: number }).n
        if (n !== 1) violate(`${when}: ${ids[i]} was acknowledged but has ${n} effects on disk`)
      }
      const doubled = db
        .prepare('SELECT event_id, count(*) AS n FROM test_effects GROUP BY event_id HAVING n > 1 LIMIT 5')
        .all() as Array<{ event_id: string; n: number }>
      for (const d of doubled) violate(`${when}: ${d.event_id} has ${d.n} effects`)
      const orphans = db
        .prepare(
          `SELECT e.event_id FROM test_effects e LEFT JOIN hookinbox_events h
             ON h.provider = 'stripe' AND h.event_id = e.event_id
           WHERE h.event_id IS NULL OR h.status != 'processed' LIMIT 5`,
        )
        .all() as Array<{ event_id: string }>
      for (const x of orphans) violate(`${when}: effect of ${x.event_id} without a processed record`)
      const bare = db
        .prepare(
          `SELECT h.event_id FROM hookinbox_events h
           WHERE h.status = 'processed' AND NOT EXISTS (SELECT 1 FROM test_effects e WHERE e.event_id = h.event_id)
           LIMIT 5`,
        )
        .all() as Array<{ event_id: string }>
      for (const x of bare) violate(`${when}: ${x.event_id} is processed but has no effect`)
    })
  }

  async function killAndRestart() {
    const round = killsStarted++
    await sleep(killDelay[round] ?? 0)
    const inFlightAtKill = inFlight
    const victim = svc
    const killedAt = performance.now()
    expectedExits.add(victim)
    victim.proc.kill('SIGKILL')
    const exit = await victim.exited
    outputs.push(victim.output())
    if (exit.signal !== 'SIGKILL')
      violate(`kill ${round + 1}: the process ended with ${JSON.stringify(exit)}`)
    // Answers the process wrote before it died may still sit in socket buffers; let them arrive. Nothing can
    // be acknowledged after this: no process listens until the restart.
    await sleep(100)
    const ackedBeforeKill = ackedCount
    const ackedIndexes: number[] = []
    for (let i = 0; i < N; i++) if (acked[i]) ackedIndexes.push(i)
    checkOnDisk(ackedIndexes, `after kill ${round + 1}`)
    svc = watch(await restart())
    url = svc.url
    kills.push({
      round: round + 1,
      threshold: thresholds[round] ?? 0,
      ackedBeforeKill,
      inFlightAtKill,
      downMs: Math.round(performance.now() - killedAt),
    })
  }

  function maybeKill() {
    const threshold = thresholds[killsStarted]
    if (!killing && threshold !== undefined && ackedCount >= threshold) {
      killing = killAndRestart()
        .catch((err) => {
          fatal ??= new Error(`kill/restart failed: ${(err as Error).message}`)
        })
        .finally(() => {
          killing = undefined
        })
    }
  }

  /** One delivery as a provider makes it: repeated (freshly signed) until it gets a 2xx. */
  async function deliverUntilAck(i: number, phase: 'stream' | 'final'): Promise<{ duplicate: boolean }> {
    const body = bodies[i] as string
    let lastFailure = ''
    for (let attempt = 1; attempt <= 1000; attempt++) {
      if (fatal) throw fatal
      if (performance.now() > deadline) {
        fatal ??= new Error(
          `deadline passed while delivering ${ids[i]} (attempt ${attempt}, last failure: ${lastFailure})`,
        )
        throw fatal
      }
      if (attempt > 1) retries++
      requests++
      inFlight++
      const res = await post(
        `${url}/webhooks/stripe`,
        body,
        { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body) },
        { agent, timeoutMs: 20_000 },
      )
      inFlight--
      if (res.kind === 'response' && res.status >= 200 && res.status < 300) {
        const answer = json<{ duplicate?: boolean; status?: string }>(res)
        if (answer?.status !== 'processed' || typeof answer.duplicate !== 'boolean') {
          violate(`${ids[i]}: unexpected 2xx body ${res.text}`)
        }
        const duplicate = answer?.duplicate === true
        if (phase === 'stream') {
          if (duplicate) duplicatesSuppressed++
          else {
            freshAnswers[i] = (freshAnswers[i] ?? 0) + 1
            if (freshAnswers[i] !== 1) violate(`${ids[i]}: answered duplicate:false ${freshAnswers[i]} times`)
          }
          if (!acked[i]) {
            acked[i] = 1
            ackedCount++
            maybeKill()
          }
        }
        return { duplicate }
      }
      if (res.kind === 'response' && res.status < 500) {
        violate(`${ids[i]}: answered ${res.status} ${res.text.slice(0, 200)}`)
        return { duplicate: false }
      }
      lastFailure = res.kind === 'response' ? `${res.status} ${res.text.slice(0, 200)}` : res.code
      if (res.kind === 'response') {
        failedAttempts.serverError++
        violate(`${ids[i]}: answered ${res.status} ${res.text.slice(0, 200)}`)
      } else if (res.code === 'ECONNREFUSED') failedAttempts.refused++
      else failedAttempts.broken++
      await sleep(Math.min(200, 5 * 2 ** Math.min(attempt, 6)) + Math.random() * 20)
    }
    fatal ??= new Error(`${ids[i]} got no 2xx in 1000 attempts (last failure: ${lastFailure})`)
    throw fatal
  }

  let report: CrashRunReport | undefined
  try {
    // --- the stream, with the second client resending a share, and the kills
    const resendQueue: Array<{ i: number; notBefore: number }> = []
    let next = 0
    let streamDone = false
    const stream = Array.from({ length: o.clients }, async () => {
      while (next < N) {
        const i = order[next++] as number
        if (resent.has(i)) resendQueue.push({ i, notBefore: performance.now() + (resendDelay[i] ?? 0) })
        await deliverUntilAck(i, 'stream')
      }
    })
    const resender = Array.from({ length: o.duplicateClients }, async () => {
      for (;;) {
        const item = resendQueue.shift()
        if (!item) {
          if (streamDone) return
          await sleep(2)
          continue
        }
        const wait = item.notBefore - performance.now()
        if (wait > 0) await sleep(wait)
        await deliverUntilAck(item.i, 'stream')
      }
    })
    const streamed = await Promise.allSettled(stream)
    streamDone = true
    await Promise.allSettled(resender)
    while (killing) await killing
    if (fatal) throw fatal
    for (const r of streamed) if (r.status === 'rejected') throw r.reason
    if (kills.length < o.kills) violate(`only ${kills.length} of ${o.kills} kills happened`)
    endPhase('stream')

    // --- a late resend of every event (a provider's retry after the fact): all must be duplicates now
    let finalResendDuplicates = 0
    let cursor = 0
    const resends = await Promise.allSettled(
      Array.from({ length: o.clients }, async () => {
        while (cursor < N) {
          const i = cursor++
          if ((await deliverUntilAck(i, 'final')).duplicate) finalResendDuplicates++
          else violate(`${ids[i]}: processed again by the final resend`)
        }
      }),
    )
    if (fatal) throw fatal
    for (const r of resends) if (r.status === 'rejected') throw r.reason
    endPhase('finalResend')

    // --- a clean stop, then the file itself
    expectedExits.add(svc)
    svc.proc.kill('SIGTERM')
    const exit = await svc.exited
    if (exit.code !== 0) violate(`the final SIGTERM ended with ${JSON.stringify(exit)}`)
    endPhase('stop')
    for (let i = 0; i < N; i++) if (!acked[i]) violate(`${ids[i]} was never acknowledged`)
    checkOnDisk(
      Array.from({ length: N }, (_, i) => i),
      'at the end',
    )
    const totals = readDb((db) => {
      const integrity = (db.pragma('integrity_check') as Array<{ integrity_check: string }>)[0]
      return {
        integrity: integrity?.integrity_check,
        effects: (db.prepare('SELECT count(*) AS n FROM test_effects').get() as { n: number }).n,
        processed: (
          db.prepare("SELECT count(*) AS n FROM hookinbox_events WHERE status = 'processed'").get() as {
            n: number
          }
        ).n,
        duplicates: (
          db.prepare('SELECT coalesce(sum(duplicates), 0) AS n FROM hookinbox_events').get() as { n: number }
        ).n,
      }
    })
    if (totals.integrity !== 'ok') violate(`integrity_check: ${totals.integrity}`)
    if (totals.effects !== N) violate(`${totals.effects} effects for ${N} events`)
    if (totals.processed !== N) violate(`${totals.processed} processed records for ${N} events`)
    let answersLostToKills = 0
    for (let i = 0; i < N; i++) if (freshAnswers[i] === 0) answersLostToKills++

    report = {
      label: o.label,
      seed: o.seed,
      events: N,
      kills,
      effects: totals.effects,
      duplicatesSuppressed,
      retries,
      failedAttempts,
      answersLostToKills,
      finalResendDuplicates,
      requests,
      duplicatesRecorded: totals.duplicates,
      durationMs: Math.round(performance.now() - started),
      phasesMs,
      dir: dir.path,
      violations,
    }
    return report
  } catch (err) {
    // Keep what was seen: the violations so far explain more than the error alone.
    const message = (err as Error).message
    throw new Error(
      `${message}\nseed=${o.seed}, folder ${dir.path}${violations.length ? `\nviolations:\n${violations.join('\n')}` : ''}`,
    )
  } finally {
    agent.destroy()
    if (svc.proc.exitCode === null && svc.proc.signalCode === null) {
      expectedExits.add(svc)
      svc.proc.kill('SIGKILL')
      await svc.exited
    }
    outputs.push(svc.output())
    if (report && violations.length === 0 && !o.keepDir) dir.remove()
    else writeFileSync(join(dir.path, 'service-output.log'), outputs.join('\n----- restart -----\n'))
  }
}
