/**
 * One-off copy of hookinbox's event history from the SQLite file to PostgreSQL, for a team moving to
 * several instances (`npm run migrate-to-postgres -- --from ./data/hookinbox.db --to postgres://…`).
 *
 * It applies the PostgreSQL migrations, then copies events (keeping their arrival sequence), attempt logs,
 * PayPal transmissions (each bound to its body), the newest time applied per object (ctx.isStale), cached
 * PayPal certificates and rejection counts in batches. Rows already present are skipped, so it can
 * run again after an interruption, or after the target took deliveries of its own (an event whose arrival
 * number is taken there is copied under a new one); PostgreSQL instances may be running meanwhile. Stop the
 * SQLite service first: events arriving there during the copy would be missed. Send the providers to
 * PostgreSQL only after the copy: an event not copied yet is new there, and its handlers would run again.
 * Then the rows of your own tables, when the handlers folder declares them for both databases
 * (copy-own-tables.ts).
 */
import { existsSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import Database from 'better-sqlite3'
import { inArray, type SQL, sql } from 'drizzle-orm'
import { inErrorChain } from '../db/error-chain.ts'
import * as pgSchema from '../db/pg-schema.ts'
import { countEventsUnderLock, openPostgres } from '../db/postgres.ts'
import { errorText } from '../logger.ts'
import { copyOwnTables, type OwnTableCopy } from './copy-own-tables.ts'
import { runDirectly } from './run-directly.ts'

const BATCH = 1000

/** How long a batch first waits for its lock of the events, and at most (see lockAndAdvance). */
const FIRST_LOCK_WAIT_MS = 50
const LAST_LOCK_WAIT_MS = 1000

/** 55P03 (lock_not_available): the lock_timeout ran out; also as the cause of Drizzle's "Failed query". */
const lockTimedOut = (err: unknown): boolean => inErrorChain(err, ({ code }) => code === '55P03')

interface Counts {
  events: number
  attempts: number
  paypalCerts: number
  rejections: number
  transmissions: number
  objectVersions: number
}

export interface MigrateOptions {
  /**
   * The handlers folder: when it holds `_schema.ts` and `_schema.pg.ts`, the rows of your own tables are
   * copied too, each table into its twin of the same export name (see copy-own-tables.ts).
   */
  handlersDir?: string
}

export async function migrateToPostgres(
  from: string,
  to: string,
  log: (line: string) => void = console.log,
  options: MigrateOptions = {},
) {
  const source = new Database(from, { readonly: true, fileMustExist: true })
  const target = await openPostgres({ url: to, poolSize: 2 })
  const copied: Counts = {
    events: 0,
    attempts: 0,
    paypalCerts: 0,
    rejections: 0,
    transmissions: 0,
    objectVersions: 0,
  }
  const date = (ms: number | null) => (ms === null ? null : new Date(ms))
  try {
    const { db } = target
    const sequence = sql`pg_get_serial_sequence(${`${target.schema}.hookinbox_events`}, 'seq')`
    /**
     * Inside `tx`, holds off every writer of events and moves the arrival sequence up to `atLeast`, never
     * back. Instances on the target may be taking deliveries meanwhile: one drawing a number between a
     * read of the sequence and the setval would be moved back below it, and a number this run inserts
     * must not be one an instance draws later. The lock lets their reads (duplicates) through; their writes
     * wait until `tx` ends.
     *
     * The lock is waited for `waitMs` at most (see retryLock): it is granted only once every delivery that
     * wrote an event has committed, one still in its handlers may take HANDLER_TIMEOUT_MS (several of them
     * in turn), and every other write of events queues behind the waiting lock meanwhile, on every instance
     * (each a 503 once past the query timeout).
     */
    const lockAndAdvance = async (tx: Pick<typeof db, 'execute'>, atLeast: SQL, waitMs: number) => {
      await tx.execute(sql.raw(`SET LOCAL lock_timeout = ${waitMs}`))
      await tx.execute(sql`LOCK TABLE ${pgSchema.events} IN EXCLUSIVE MODE`)
      await tx.execute(sql.raw('SET LOCAL lock_timeout = 0'))
      await advance(tx, atLeast)
    }
    /** Moves the arrival sequence up to `atLeast`, never back; safe only under lockAndAdvance's lock. */
    const advance = (tx: Pick<typeof db, 'execute'>, atLeast: SQL) =>
      tx.execute(sql`SELECT setval(${sequence}, greatest(nextval(${sequence}), ${atLeast}))`)
    /**
     * Runs `attempt` (a transaction that begins with lockAndAdvance) again each time its lock was not had in
     * time, after letting the deliveries queued behind it through, and waiting longer each time (up to a second).
     */
    const retryLock = async <T>(attempt: (waitMs: number) => Promise<T>): Promise<T> => {
      for (let waitMs = FIRST_LOCK_WAIT_MS; ; waitMs = Math.min(2 * waitMs, LAST_LOCK_WAIT_MS)) {
        try {
          return await attempt(waitMs)
        } catch (err) {
          if (!lockTimedOut(err)) throw err
          if (waitMs === LAST_LOCK_WAIT_MS) log('waiting for deliveries in progress on the target to commit')
          await new Promise((resolve) => setTimeout(resolve, waitMs / 2))
        }
      }
    }
    let after = 0
    for (;;) {
      const rows = source
        .prepare('SELECT * FROM hookinbox_events WHERE seq > ? ORDER BY seq LIMIT ?')
        .all(after, BATCH) as Array<Record<string, unknown>>
      if (rows.length === 0) break
      after = rows[rows.length - 1]?.seq as number
      const seqs = rows.map((r) => r.seq as number)
      const attempts = source
        .prepare(
          `SELECT * FROM hookinbox_attempts WHERE event_seq IN (${seqs.map(() => '?').join(',')}) ORDER BY id`,
        )
        .all(...seqs) as Array<Record<string, unknown>>
      const values = rows.map((r) => ({
        seq: r.seq as number,
        provider: r.provider as string,
        eventId: r.event_id as string,
        type: r.type as string,
        status: r.status as 'processed',
        attempts: r.attempts as number,
        payload: r.payload as string | null,
        receivedAt: date(r.received_at as number) as Date,
        processedAt: date(r.processed_at as number | null),
        occurredAt: date(r.occurred_at as number | null),
        lastError: r.last_error as string | null,
        handlers: r.handlers as string | null,
        duplicates: r.duplicates as number,
        lastSeenAt: date(r.last_seen_at as number | null),
      }))
      // A batch's events and their attempt logs in one transaction: a run stopped between the two would
      // leave events that a second run skips as already there, and their attempt logs would never be copied.
      const done = await retryLock((waitMs) =>
        db.transaction(async (tx) => {
          const { events } = pgSchema
          await lockAndAdvance(tx, sql`${after}::bigint`, waitMs)
          const returned = { seq: events.seq, provider: events.provider, eventId: events.eventId }
          const inserted = await tx.insert(events).values(values).onConflictDoNothing().returning(returned)
          /** The copied events' sequence numbers in the target, by their number in the file. */
          const copiedAs = new Map(inserted.map((i) => [i.seq, i.seq]))
          // A row is skipped when its event is already there, or when its arrival number is taken by another
          // event (the target took deliveries of its own after an earlier run): such an event is copied under a
          // new number, after every stored one, or its retries would run its handlers again.
          const key = (e: { provider: string; eventId: string }) => `${e.provider}\u0000${e.eventId}`
          const skipped = values.filter((v) => !copiedAs.has(v.seq))
          if (skipped.length > 0) {
            const present = await tx
              .select({ provider: events.provider, eventId: events.eventId })
              .from(events)
              .where(
                inArray(
                  events.eventId,
                  skipped.map((v) => v.eventId),
                ),
              )
            const there = new Set(present.map(key))
            const lacking = skipped.filter((v) => !there.has(key(v)))
            if (lacking.length > 0) {
              await advance(tx, sql`(SELECT max(seq) FROM ${events})`)
              const renumbered = await tx
                .insert(events)
                .values(lacking.map(({ seq: _seq, ...event }) => event))
                .returning(returned)
              const fileSeq = new Map(lacking.map((v) => [key(v), v.seq]))
              for (const r of renumbered) copiedAs.set(fileSeq.get(key(r)) as number, r.seq)
            }
          }
          const attemptRows = attempts
            .filter((a) => copiedAs.has(a.event_seq as number))
            .map((a) => ({
              eventSeq: copiedAs.get(a.event_seq as number) as number,
              at: new Date(a.at as number),
              outcome: a.outcome as 'processed',
              durationMs: a.duration_ms as number,
              error: a.error as string | null,
              trigger: a.trigger as string,
            }))
          if (attemptRows.length > 0) await tx.insert(pgSchema.attempts).values(attemptRows)
          return { events: copiedAs.size, attempts: attemptRows.length }
        }),
      )
      copied.events += done.events
      copied.attempts += done.attempts
      log(`copied events up to #${after}`)
    }
    // New events must continue after the copied arrival sequence.
    await retryLock((waitMs) =>
      db.transaction((tx) => lockAndAdvance(tx, sql`(SELECT max(seq) FROM ${pgSchema.events})`, waitMs)),
    )

    // Recount rather than copy: the target may already hold counts from an earlier, interrupted run. The lock
    // holds off instances moving a count meanwhile (they wait before their commit); those that moved one
    // before it are waited for, so each of their events is in the recount exactly once.
    await db.transaction((tx) => countEventsUnderLock(tx, true))

    /**
     * Reads `table` in batches by rowid and hands each batch to `copy`, which answers how many rows it
     * copied. A file last opened by an older version may lack a later table: nothing to copy from it then.
     */
    const copyBatches = async (
      table: string,
      copy: (rows: Array<Record<string, unknown>>) => Promise<number>,
    ): Promise<number> => {
      const exists = source
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
        .get(table)
      let total = 0
      for (let afterRow = 0; exists !== undefined; ) {
        const rows = source
          .prepare(`SELECT rowid, * FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT ?`)
          .all(afterRow, BATCH) as Array<Record<string, unknown>>
        if (rows.length === 0) break
        afterRow = rows[rows.length - 1]?.rowid as number
        total += await copy(rows)
      }
      return total
    }

    copied.transmissions = await copyBatches('hookinbox_transmissions', async (rows) => {
      const r = await db
        .insert(pgSchema.transmissions)
        .values(
          rows.map((t) => ({
            provider: t.provider as string,
            transmissionId: t.transmission_id as string,
            bodySha256: t.body_sha256 as string,
            receivedAt: new Date(t.received_at as number),
          })),
        )
        .onConflictDoNothing()
        .returning({ id: pgSchema.transmissions.transmissionId })
      return r.length
    })

    // What ctx.isStale knows: without it, an older event for an object arriving after the move would be
    // applied over the newer one already applied. On a second run the newer of two times is kept.
    copied.objectVersions = await copyBatches('hookinbox_object_versions', async (rows) => {
      const r = await db
        .insert(pgSchema.objectVersions)
        .values(
          rows.map((v) => ({
            provider: v.provider as string,
            objectKey: v.object_key as string,
            occurredAt: new Date(v.occurred_at as number),
            eventId: v.event_id as string,
          })),
        )
        .onConflictDoUpdate({
          target: [pgSchema.objectVersions.provider, pgSchema.objectVersions.objectKey],
          set: { occurredAt: sql`excluded.occurred_at`, eventId: sql`excluded.event_id` },
          setWhere: sql`${pgSchema.objectVersions.occurredAt} < excluded.occurred_at`,
        })
        .returning({ key: pgSchema.objectVersions.objectKey })
      return r.length
    })

    const certs = source.prepare('SELECT * FROM hookinbox_paypal_certs').all() as Array<
      Record<string, unknown>
    >
    for (const c of certs) {
      const r = await db
        .insert(pgSchema.paypalCerts)
        .values({ url: c.url as string, pem: c.pem as string, fetchedAt: new Date(c.fetched_at as number) })
        .onConflictDoNothing()
        .returning({ url: pgSchema.paypalCerts.url })
      copied.paypalCerts += r.length
    }
    const rejections = source.prepare('SELECT * FROM hookinbox_rejections').all() as Array<{
      provider: string
      reason: string
      minute: number
      count: number
    }>
    for (let i = 0; i < rejections.length; i += BATCH) {
      const r = await db
        .insert(pgSchema.rejections)
        .values(rejections.slice(i, i + BATCH))
        .onConflictDoNothing()
        .returning({ minute: pgSchema.rejections.minute })
      copied.rejections += r.length
    }
    log(
      `done: ${copied.events} events, ${copied.attempts} attempts, ${copied.transmissions} PayPal transmissions, ${copied.objectVersions} object versions, ${copied.paypalCerts} certificates, ${copied.rejections} rejection counts copied`,
    )
    const ownTables = options.handlersDir
      ? await copyYourTables(source, target.db, target.schema, options.handlersDir, log)
      : []
    return { ...copied, ownTables }
  } finally {
    source.close()
    await target.close()
  }
}

/** Your schema modules, when the handlers folder has both; a clear line when it does not. */
async function copyYourTables(
  source: Database.Database,
  target: Parameters<typeof copyOwnTables>[0]['target'],
  targetSchema: string,
  handlersDir: string,
  log: (line: string) => void,
): Promise<OwnTableCopy[]> {
  const sqliteFile = resolve(handlersDir, '_schema.ts')
  const pgFile = resolve(handlersDir, '_schema.pg.ts')
  if (!existsSync(sqliteFile) || !existsSync(pgFile)) {
    log(`your own tables: ${handlersDir} has no _schema.ts and _schema.pg.ts, so none were copied`)
    return []
  }
  const sqliteTables = (await import(pathToFileURL(sqliteFile).href)) as Record<string, unknown>
  const pgTables = (await import(pathToFileURL(pgFile).href)) as Record<string, unknown>
  return copyOwnTables({ source, target, targetSchema, sqliteTables, pgTables, log })
}

async function main() {
  const { values } = parseArgs({
    options: { from: { type: 'string' }, to: { type: 'string' }, handlers: { type: 'string' } },
  })
  const from = values.from ?? './data/hookinbox.db'
  const to = values.to ?? process.env.DATABASE_URL
  if (!to || !/^postgres(ql)?:\/\//.test(to)) {
    process.stderr.write(
      'usage: npm run migrate-to-postgres -- --from ./data/hookinbox.db --to postgres://user@host/db [--handlers ./handlers]\n',
    )
    process.exit(2)
  }
  try {
    await migrateToPostgres(from, to, console.log, {
      handlersDir: values.handlers ?? process.env.HANDLERS_DIR ?? './handlers',
    })
  } catch (err) {
    // Not err.message: a failed insert's message lists every value bound to it, the payloads of a whole batch.
    process.stderr.write(`migrate-to-postgres: ${errorText(err)}\n`)
    process.exit(1)
  }
}

if (runDirectly(import.meta.url)) void main()
