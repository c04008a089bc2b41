/**
 * The pre-filled database of scenario 7, cached under test/bench/cache/ and reused by later runs.
 *
 * Fast generation: the service itself creates the schema (its migrations) on an empty file and is stopped;
 * then rows go in directly with better-sqlite3, synchronous=OFF and WAL, in 500k-row transactions of one
 * prepared INSERT … SELECT each. The secondary indexes are dropped first and re-created at the end from their own CREATE
 * statements (one sort per index instead of 10M random B-tree inserts), so the file ends up with exactly the
 * schema the migrations made. Ids are random-ordered like Stripe's, so the unique index is not an append.
 *
 * The file is what a long-running instance holds in steady state under the default retention: events older
 * than RETENTION_DAYS (45 by default, read from src/config.ts) are settled ones with their payload and
 * attempt log already pruned (failed and parked events keep theirs), newer ones are complete. Nothing is
 * older than DEDUP_KEEP_DAYS, so nothing is due for deletion.
 *
 * The cache name carries a layout version, the row count and a hash of the migrations: a schema change
 * regenerates it. It must not change between runs: a run adds events, which `resetScaleDb` deletes
 * afterwards (and before, in case a previous run was interrupted), and the service's retention pass would
 * prune the rows that crossed the retention line since generation, so the service gets a retention shifted
 * by the days elapsed since then (`scaleServiceEnv`): it sees the file as it was when generated.
 */
import { createHash } from 'node:crypto'
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { parseConfig } from '../../src/config.ts'
import { CACHE_DIR, PROJECT_ROOT, scratchDir, serviceArgs, spawnChild } from './processes.ts'
import { BENCH_STRIPE_SECRET } from './stripe-requests.ts'

const LAYOUT = 'v3'
/** Tables the service keeps in step with the events (if the schema has them): filled at generation. */
const STATUS_COUNTS = 'hookinbox_status_counts'
const DAY_MS = 86_400_000
const SPAN_DAYS = 100

export interface ScaleDb {
  path: string
  rows: number
  bytes: number
  /** Seconds spent generating in this run; undefined when the cache was reused. */
  generatedSeconds: number | undefined
  maxSeq: number
  maxAttemptId: number
  generatedAt: number
  retentionDays: number
  dedupKeepDays: number
  /** Events whose payload is already pruned. */
  pruned: number
  /** Rows of the status-count table as generated, restored after every run (runs add counted events). */
  statusCounts?: Array<Record<string, unknown>>
}

type Meta = Omit<ScaleDb, 'path' | 'bytes' | 'generatedSeconds'> & { generatedSeconds: number }

/** The service's default retention (the same defaults `npm start` gets). */
function defaultRetention(): { days: number; dedupKeepDays: number } {
  const config = parseConfig({}) as { retention?: { days: number; dedupKeepDays: number } }
  return config.retention ?? { days: 45, dedupKeepDays: 400 }
}

/** RETENTION_DAYS / DEDUP_KEEP_DAYS for a service on the cached file: the defaults plus the days since generation. */
export function scaleServiceEnv(db: ScaleDb): Record<string, string> {
  const elapsed = Math.ceil((Date.now() - db.generatedAt) / DAY_MS)
  return {
    RETENTION_DAYS: String(db.retentionDays + elapsed),
    DEDUP_KEEP_DAYS: String(db.dedupKeepDays + elapsed),
  }
}

function migrationsHash(): string {
  const dir = join(PROJECT_ROOT, 'drizzle', 'sqlite')
  const hash = createHash('sha256')
  for (const name of readdirSync(dir)
    .filter((n) => n.endsWith('.sql'))
    .sort()) {
    hash.update(name).update(readFileSync(join(dir, name)))
  }
  return hash.digest('hex').slice(0, 10)
}

const fileBytes = (path: string) =>
  ['', '-wal', '-shm'].reduce((sum, s) => sum + (existsSync(path + s) ? statSync(path + s).size : 0), 0)

function removeDb(path: string) {
  for (const s of ['', '-wal', '-shm', '.json']) rmSync(path + s, { force: true })
}

/**
 * One bench at a time on the cached file: two runs would reset each other's rows. The lock names its pid;
 * a lock left by a process that no longer exists is taken over. Released when this process exits.
 */
function lockScaleCache() {
  const lock = join(CACHE_DIR, 'scale.lock')
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' })
      process.once('exit', () => rmSync(lock, { force: true }))
      return
    } catch {
      const holder = Number(readFileSync(lock, 'utf8'))
      let alive = false
      try {
        process.kill(holder, 0)
        alive = holder !== process.pid
      } catch {
        alive = false
      }
      if (alive) throw new Error(`another bench (pid ${holder}) is using the scale database; try again later`)
      rmSync(lock, { force: true })
    }
  }
}

export async function ensureScaleDb(rows: number, log: (line: string) => void): Promise<ScaleDb> {
  mkdirSync(CACHE_DIR, { recursive: true })
  lockScaleCache()
  const hash = migrationsHash()
  const path = join(CACHE_DIR, `scale-${LAYOUT}-${rows}-${hash}.db`)
  // Caches of another layout or schema are never reused, and take several GB each.
  for (const name of readdirSync(CACHE_DIR)) {
    const current = name.startsWith(`scale-${LAYOUT}-`) && name.endsWith(`-${hash}.db`)
    if (/^scale-.*\.db$/.test(name) && !current) removeDb(join(CACHE_DIR, name))
  }
  if (existsSync(`${path}.json`) && existsSync(path)) {
    const meta = JSON.parse(readFileSync(`${path}.json`, 'utf8')) as Meta
    resetScaleDb(path, meta)
    return { path, ...meta, bytes: fileBytes(path), generatedSeconds: undefined }
  }
  removeDb(path) // a half-written file from an interrupted generation
  const started = performance.now()
  await createSchemaWithService(path)
  const meta = fill(path, rows, defaultRetention(), log)
  // synchronous=OFF left GBs to the kernel: flush them now, not while a later scenario fsyncs its commits.
  const fd = openSync(path, 'r+')
  fsyncSync(fd)
  closeSync(fd)
  meta.generatedSeconds = Math.round((performance.now() - started) / 100) / 10
  writeFileSync(`${path}.json`, JSON.stringify(meta, null, 2))
  return { path, ...meta, bytes: fileBytes(path) }
}

async function createSchemaWithService(path: string) {
  const scratch = scratchDir('scale-schema')
  // The service refuses to start without its handlers folder (an empty one: no handlers).
  mkdirSync(join(scratch.path, 'handlers'))
  try {
    const child = await spawnChild({
      name: 'service (schema)',
      args: serviceArgs(),
      cwd: scratch.path,
      env: {
        DATABASE_URL: path,
        HANDLERS_DIR: join(scratch.path, 'handlers'),
        STRIPE_WEBHOOK_SECRET: BENCH_STRIPE_SECRET,
        LOG_LEVEL: 'warn',
      },
    })
    await child.stop()
  } finally {
    scratch.remove()
  }
}

/**
 * One batch of events generated inside SQLite (a recursive CTE feeding INSERT … SELECT): binding 13
 * parameters per row from JavaScript costs ~5 µs a row on this machine, this costs a fraction of that.
 * The random draws are MATERIALIZED so each row's draws are taken once (a flattened CTE would re-evaluate
 * random() at every reference); rows come out of it in `i` order, so seq follows arrival time. Distribution: 70 % Stripe, 20 % Adyen, 10 % PayPal; 97 % processed,
 * 1.5 % ignored, 1 % failed, 0.5 % parked; arrivals spread evenly over the last 100 days, oldest first;
 * settled events that arrived before :prunedBefore have no payload (retention already ran).
 */
const BATCH_SQL = `
WITH RECURSIVE
  n(i) AS (SELECT :from UNION ALL SELECT i + 1 FROM n WHERE i + 1 < :to),
  r AS MATERIALIZED (
    SELECT i, abs(random()) % 1000 AS p, abs(random()) % 1000 AS s, abs(random()) % 4 AS t,
           abs(random()) % 20 AS d, lower(hex(randomblob(8))) AS tok, 500 + abs(random()) % 50000 AS amount,
           :first + (i * :span) / :rows AS received
    FROM n),
  c AS (
    SELECT i, tok, amount, received, d,
      CASE WHEN p < 700 THEN 'stripe' WHEN p < 900 THEN 'adyen' ELSE 'paypal' END AS provider,
      CASE WHEN s < 970 THEN 'processed' WHEN s < 985 THEN 'ignored' WHEN s < 995 THEN 'failed' ELSE 'parked' END
        AS status,
      CASE WHEN p < 700 THEN
             CASE t WHEN 0 THEN 'checkout.session.completed' WHEN 1 THEN 'invoice.paid'
                    WHEN 2 THEN 'payment_intent.succeeded' ELSE 'charge.refunded' END
           WHEN p < 900 THEN CASE t % 3 WHEN 0 THEN 'AUTHORISATION' WHEN 1 THEN 'CAPTURE' ELSE 'REFUND' END
           ELSE CASE t % 2 WHEN 0 THEN 'PAYMENT.CAPTURE.COMPLETED' ELSE 'PAYMENT.CAPTURE.REFUNDED' END
      END AS type
    FROM r),
  e AS (
    SELECT *,
      CASE provider
        WHEN 'stripe' THEN 'evt_' || tok || printf('%08x', i)
        WHEN 'adyen' THEN 'ScaleMerchant:' || upper(tok) || printf('%08X', i) || ':' || type || ':true:'
        ELSE 'WH-' || upper(substr(tok, 1, 10)) || printf('%08X', i) || '-' || upper(substr(tok, 7))
      END AS event_id,
      status IN ('processed', 'ignored') AS settled
    FROM c)
INSERT INTO hookinbox_events (provider, event_id, type, status, attempts, payload, received_at, processed_at,
  occurred_at, last_error, handlers, duplicates, last_seen_at)
SELECT provider, event_id, type, status,
  CASE status WHEN 'failed' THEN 1 + d % 3 WHEN 'parked' THEN 5 ELSE 1 END,
  CASE WHEN settled AND received < :prunedBefore THEN NULL ELSE
    printf('{"id":"%s","object":"event","type":"%s","created":%d,"data":{"object":{"id":"obj_%s","amount":%d,'
      || '"currency":"eur","customer":"cus_%s","status":"succeeded"}},"livemode":false}',
      event_id, type, received / 1000 - 1, tok, amount, substr(tok, 3)) END,
  received,
  CASE WHEN settled THEN received + 4 END,
  received - 1000,
  CASE WHEN settled THEN NULL ELSE 'noop: upstream API answered 503' END,
  CASE status WHEN 'ignored' THEN '[]' ELSE '["noop"]' END,
  CASE WHEN d = 0 THEN 1 ELSE 0 END,
  NULL
FROM e`

function fill(
  path: string,
  rows: number,
  retention: { days: number; dedupKeepDays: number },
  log: (line: string) => void,
): Meta {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = OFF')
  db.pragma('cache_size = -1000000')
  db.pragma('temp_store = MEMORY')
  // Generated rows are consistent by construction; the FK check would only cost time.
  db.pragma('foreign_keys = OFF')
  const indexes = db
    .prepare(
      "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('hookinbox_events', 'hookinbox_attempts')",
    )
    .all() as Array<{ name: string; sql: string }>
  for (const { name } of indexes) db.exec(`DROP INDEX "${name}"`)

  const insertEvents = db.prepare(BATCH_SQL)
  // The attempt row the service wrote for each event, except where retention pruned it with the payload.
  const insertAttempts =
    db.prepare(`INSERT INTO hookinbox_attempts (event_seq, at, outcome, duration_ms, error, "trigger")
    SELECT seq, received_at + 4, status, 3, last_error, 'delivery' FROM hookinbox_events
    WHERE seq > ? AND payload IS NOT NULL`)
  const lastSeq = db.prepare('SELECT coalesce(max(seq), 0) AS m FROM hookinbox_events').pluck()
  const generatedAt = Date.now()
  const span = SPAN_DAYS * DAY_MS
  const first = generatedAt - span
  const prunedBefore = generatedAt - retention.days * DAY_MS
  if (retention.dedupKeepDays <= SPAN_DAYS)
    throw new Error('DEDUP_KEEP_DAYS default is shorter than the generated span')
  const BATCH = 500_000
  const started = performance.now()
  const batch = db.transaction((from: number, to: number) => {
    const before = lastSeq.get() as number
    insertEvents.run({ from, to, first, span, rows, prunedBefore })
    insertAttempts.run(before)
  })
  for (let from = 0; from < rows; from += BATCH) {
    const to = Math.min(rows, from + BATCH)
    batch(from, to)
    if (to % 1_000_000 === 0 || to === rows) {
      log(
        `  scale database: ${to.toLocaleString('en')} rows (${((performance.now() - started) / 1000).toFixed(0)} s)`,
      )
    }
  }
  log(`  scale database: re-creating ${indexes.length} indexes`)
  for (const { name, sql } of indexes) {
    const t = performance.now()
    db.exec(sql)
    log(`    ${name}: ${((performance.now() - t) / 1000).toFixed(1)} s`)
  }
  db.pragma('wal_checkpoint(TRUNCATE)')
  const maxSeq = lastSeq.get() as number
  const maxAttemptId = db.prepare('SELECT max(id) AS m FROM hookinbox_attempts').pluck().get() as number
  const pruned = db
    .prepare('SELECT count(*) FROM hookinbox_events WHERE payload IS NULL')
    .pluck()
    .get() as number
  // The service keeps per-status counts in the transactions that change statuses; a generated file must
  // have them too, or the service would count 10M rows at start-up (its one-time backfill).
  let statusCounts: Array<Record<string, unknown>> | undefined
  if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(STATUS_COUNTS)) {
    log('  scale database: status counts')
    db.exec(`INSERT INTO ${STATUS_COUNTS} (provider, status, shard, n)
      SELECT provider, status, 0, count(*) FROM hookinbox_events GROUP BY provider, status`)
    statusCounts = db.prepare(`SELECT * FROM ${STATUS_COUNTS}`).all() as Array<Record<string, unknown>>
  }
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
  return {
    rows,
    maxSeq,
    maxAttemptId,
    generatedAt,
    retentionDays: retention.days,
    dedupKeepDays: retention.dedupKeepDays,
    pruned,
    ...(statusCounts ? { statusCounts } : {}),
    generatedSeconds: 0,
  }
}

/** Deletes what a bench run added to the cached database, so every run starts from the same rows. */
export function resetScaleDb(
  path: string,
  meta: { maxSeq: number; maxAttemptId: number; statusCounts?: Array<Record<string, unknown>> },
) {
  const db = new Database(path)
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = OFF')
    db.transaction(() => {
      db.prepare('DELETE FROM hookinbox_attempts WHERE id > ?').run(meta.maxAttemptId)
      db.prepare('DELETE FROM hookinbox_events WHERE seq > ?').run(meta.maxSeq)
      db.prepare('DELETE FROM hookinbox_rejections').run()
      if (meta.statusCounts) {
        db.prepare(`DELETE FROM ${STATUS_COUNTS}`).run()
        for (const row of meta.statusCounts) {
          const columns = Object.keys(row)
          db.prepare(
            `INSERT INTO ${STATUS_COUNTS} (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
          ).run(...Object.values(row))
        }
      }
    })()
    db.pragma('wal_checkpoint(TRUNCATE)')
  } finally {
    db.close()
  }
}
