/**
 * SIGTERM to the real process while 16 clients send distinct signed Stripe events in a loop (half on fresh
 * connections, half on keep-alive connections, as providers differ). Every request the service had accepted
 * gets its real answer (a 2xx, never a 5xx, never a broken connection); requests that come after the listener
 * closed are refused cleanly; the process exits 0; every acknowledged event is in the database with its effect.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { Agent } from 'node:http'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, it } from 'vitest'
import { killIfRunning, type SpawnedService, spawnService } from '../support/spawn-service.ts'
import { STRIPE_SECRET, stripeEvent, stripeSignature } from '../support/stripe-signing.ts'
import { tempDir } from '../support/temp-dir.ts'
import { EFFECTS_TABLE_SQL, effectHandler } from '../support/test-service.ts'
import { json, type PostResult, post, sleep } from './support/http-client.ts'

const CLIENTS = 16
const MAX_REQUESTS_PER_CLIENT = 400
const SIGTERM_AFTER_ACKS = 200

interface Sent {
  id: string
  client: number
  keepAlive: boolean
  startedAt: number
  endedAt: number
  result: PostResult
}

describe('graceful shutdown under load (real process)', () => {
  const dir = tempDir('drain')
  let svc: SpawnedService | undefined
  afterAll(async () => {
    await killIfRunning(svc)
    dir.remove()
  })

  it('SIGTERM mid-load: in-flight requests get their real answers, later ones are refused, exit 0, nothing lost', async () => {
    const handlersDir = join(dir.path, 'handlers')
    mkdirSync(handlersDir)
    // A little work inside the transaction, so that requests are really in flight when the signal comes.
    // Each run of the handler also notes its event id in a file outside the database (not rolled back): proof
    // that the service had accepted that request, even if it never got to log or commit it.
    const seenFile = join(dir.path, 'handler-started.txt')
    writeFileSync(seenFile, '')
    writeFileSync(
      join(handlersDir, 'effect.ts'),
      effectHandler({
        extra: `;(await import('node:fs')).appendFileSync(process.env.SEEN_FILE, event.id + '\\n')
    await new Promise((r) => setTimeout(r, 2))`,
      }),
    )
    const dbPath = join(dir.path, 'hookinbox.db')
    const pre = new Database(dbPath)
    pre.exec(EFFECTS_TABLE_SQL)
    pre.close()
    const service = await spawnService({
      DATABASE_URL: dbPath,
      HANDLERS_DIR: handlersDir,
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
      LOG_LEVEL: 'info',
      SEEN_FILE: seenFile,
    })
    svc = service

    const keepAliveAgent = new Agent({ keepAlive: true, maxSockets: CLIENTS })
    const sent: Sent[] = []
    let acks = 0
    let sigtermAt = Number.POSITIVE_INFINITY
    const deadline = performance.now() + 25_000
    const sigterm = () => {
      if (sigtermAt !== Number.POSITIVE_INFINITY) return
      sigtermAt = performance.now()
      service.proc.kill('SIGTERM')
    }
    // Bounded in time too, in case acknowledgements come slowly on a loaded machine.
    const timer = setTimeout(sigterm, 8_000)

    const clients = Array.from({ length: CLIENTS }, async (_, client) => {
      const keepAlive = client % 2 === 1
      for (let n = 0; n < MAX_REQUESTS_PER_CLIENT && performance.now() < deadline; n++) {
        const body = JSON.stringify(stripeEvent())
        const id = JSON.parse(body).id as string
        const startedAt = performance.now()
        const result = await post(
          `${service.url}/webhooks/stripe`,
          body,
          { 'content-type': 'application/json', 'stripe-signature': stripeSignature(body) },
          { agent: keepAlive ? keepAliveAgent : false, timeoutMs: 20_000 },
        )
        sent.push({ id, client, keepAlive, startedAt, endedAt: performance.now(), result })
        if (result.kind === 'response' && result.status === 200 && ++acks >= SIGTERM_AFTER_ACKS) sigterm()
        // A refused or broken connection: the service is going away; this client stops (a provider would
        // retry later, against the next process).
        if (result.kind === 'error') return
        // After the signal, keep going until the refusal comes (bounded by the count and the deadline).
        if (sigtermAt !== Number.POSITIVE_INFINITY) await sleep(1)
      }
    })
    await Promise.all(clients)
    clearTimeout(timer)
    keepAliveAgent.destroy()
    const exit = await service.exited
    const output = service.output()

    // What the service saw: every delivery it answered is logged (info) with its event id, and every event
    // whose handler started is in the side file.
    const seen = new Set<string>(readFileSync(seenFile, 'utf8').split('\n').filter(Boolean))
    for (const m of output.matchAll(/"eventId":"([^"]+)"/g)) seen.add(m[1] as string)
    const db = new Database(dbPath, { readonly: true })
    const statusOf = db.prepare(
      "SELECT status FROM hookinbox_events WHERE provider = 'stripe' AND event_id = ?",
    )
    const effectsOf = db.prepare('SELECT count(*) AS n FROM test_effects WHERE event_id = ?')
    const stored = (id: string) => (statusOf.get(id) as { status: string } | undefined)?.status

    const ok = sent.filter((s) => s.result.kind === 'response' && s.result.status === 200)
    const otherAnswers = sent.filter((s) => s.result.kind === 'response' && s.result.status !== 200)
    const errors = sent.filter(
      (s): s is Sent & { result: Extract<PostResult, { kind: 'error' }> } => s.result.kind === 'error',
    )
    const refused = errors.filter((s) => s.result.code === 'ECONNREFUSED')
    const broken = errors.filter((s) => s.result.code !== 'ECONNREFUSED')
    // A broken connection the service never saw (its request was not read yet when the listener closed and
    // the idle connections were dropped) lost nothing: no record, no effect, and the provider retries.
    const brokenAfterAccepted = broken.filter((s) => seen.has(s.id) || stored(s.id) !== undefined)
    const brokenUnseen = broken.filter((s) => !brokenAfterAccepted.includes(s))
    // Requests fully sent well before the signal was even sent were on established connections with time to
    // spare: the service must have read them, so each must get its answer (none may be dropped unread).
    const sentWellBefore = (t: number | undefined) => t !== undefined && t < sigtermAt - 25
    const droppedDespiteSentBefore = errors.filter((s) => sentWellBefore(s.result.writtenAt))
    const unreadBeforeSignal = brokenUnseen.filter((s) => (s.result.writtenAt ?? Infinity) < sigtermAt)
    const describeBroken = (list: typeof broken) => {
      const counts = new Map<string, number>()
      for (const s of list) {
        const k = `${s.keepAlive ? 'keep-alive' : 'fresh'}:${s.result.code}`
        counts.set(k, (counts.get(k) ?? 0) + 1)
      }
      return [...counts].map(([k, n]) => `${k}×${n}`).join(',') || 'none'
    }
    const inFlightAtSigterm = sent.filter((s) => s.startedAt < sigtermAt && s.endedAt > sigtermAt)
    const answeredAfterSigterm = ok.filter((s) => s.endedAt > sigtermAt)
    const missing = ok.filter(
      (s) => stored(s.id) !== 'processed' || (effectsOf.get(s.id) as { n: number }).n !== 1,
    )
    const totalEffects = (db.prepare('SELECT count(*) AS n FROM test_effects').get() as { n: number }).n
    const processed = (
      db.prepare("SELECT count(*) AS n FROM hookinbox_events WHERE status = 'processed'").get() as {
        n: number
      }
    ).n
    db.close()

    console.log(
      `[graceful-shutdown] requests=${sent.length} ok=${ok.length} in-flight-at-sigterm=${inFlightAtSigterm.length} ` +
        `answered-after-sigterm=${answeredAfterSigterm.length} refused=${refused.length} ` +
        `broken-unseen=${brokenUnseen.length}(${describeBroken(brokenUnseen)}; fully sent before the signal: ${unreadBeforeSignal.length}) ` +
        `broken-after-accepted=${brokenAfterAccepted.length} ` +
        `non-2xx=${otherAnswers.length} exit=${JSON.stringify(exit)} stored=${processed} effects=${totalEffects}`,
    )

    expect(sigtermAt).toBeLessThan(Number.POSITIVE_INFINITY)
    // No 5xx (nor any other non-2xx), and no request the service had accepted lost its answer.
    expect(otherAnswers.map((s) => `${s.id}: ${(s.result as { status: number }).status}`)).toEqual([])
    expect(brokenAfterAccepted.map((s) => `${s.id}: ${s.result.code}`)).toEqual([])
    expect(droppedDespiteSentBefore.map((s) => `${s.id}: ${s.result.code}`)).toEqual([])
    // The signal really came mid-load, and the requests then in flight were answered.
    expect(answeredAfterSigterm.length).toBeGreaterThan(0)
    for (const s of inFlightAtSigterm) {
      if (s.result.kind === 'response' || seen.has(s.id)) expect(s.result).toMatchObject({ status: 200 })
    }
    // Every client ended with a refusal or a broken-before-read connection, not by running out of requests.
    expect(errors).toHaveLength(CLIENTS)
    // Every acknowledged event is on disk with exactly one effect, and nothing else was processed.
    expect(missing.map((s) => s.id)).toEqual([])
    expect(processed).toBe(ok.length)
    expect(totalEffects).toBe(ok.length)
    for (const s of ok)
      expect(json(s.result)).toEqual({ received: true, duplicate: false, status: 'processed' })
    // And the process stopped by itself, cleanly.
    expect(exit).toEqual({ code: 0, signal: null })
    expect(output).toMatch(/hookinbox stopped/)
  }, 60_000)
})
