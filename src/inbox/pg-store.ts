/**
 * The EventStore on one PostgreSQL connection inside an open transaction. The claim is an
 * `INSERT … ON CONFLICT DO NOTHING` on the unique key: a second transaction claiming the same event waits
 * for the first, then sees its committed row (a duplicate, or a failure to retry) or, if the first rolled
 * back, claims the key itself. Either way the row is locked (FOR UPDATE) until this transaction ends.
 */
import { and, eq, sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import type pg from 'pg'
import { objectVersions, transmissions } from '../db/pg-schema.ts'
import type { EventStatus } from '../db/schema.ts'
import { COUNT_SHARDS } from '../db/status-counts.ts'
import type { HandlerTx } from '../handlers.ts'
import type { EventStore, StoredEvent } from './event-store.ts'
import { claimEvent, findEventForUpdate, saveOutcomeStatements, touchEvent } from './pg-statements.ts'
import { controlsTransaction, RevokedTransactionError, TransactionControlError } from './revocable-client.ts'

/**
 * A view of the connection whose queries fail once revoked (a handler that outlived its timeout). It also
 * notes whether any of the handler's statements failed: on PostgreSQL that aborts the whole transaction
 * (25P02 for every later statement), even when the handler catches the error and carries on.
 */
function revocablePgClient(client: pg.PoolClient): {
  client: pg.PoolClient
  revoke(): void
  failed(): boolean
  /** Whether a query of the handler is still running on the connection. */
  busy(): boolean
} {
  let live = true
  let failed = false
  let running = 0
  const noteFailure = () => {
    failed = true
  }
  const done = () => {
    running--
  }
  const proxy = new Proxy(client, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target) as unknown
      if (prop === 'query' && typeof value === 'function') {
        return (...args: unknown[]) => {
          if (!live) return Promise.reject(new RevokedTransactionError())
          const text =
            typeof args[0] === 'string' ? args[0] : (args[0] as { text?: unknown } | undefined)?.text
          if (typeof text === 'string' && controlsTransaction(text, 'postgres')) {
            return Promise.reject(new TransactionControlError())
          }
          const failedBefore = failed
          const result = (value as (...a: unknown[]) => unknown).apply(target, args)
          if (result instanceof Promise) {
            running++
            // Observed, not handled: the handler still gets the result or the rejection.
            result.then(done, () => {
              done()
              noteFailure()
            })
            // PostgreSQL's own 25P02 says only that the transaction is aborted; after a statement of this
            // handler failed (caught, as "insert, and if the key exists it is already booked"), say why.
            if (failedBefore) return result.catch((err: unknown) => Promise.reject(explainAborted(err)))
          }
          return result
        }
      }
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
    },
  })
  return {
    client: proxy,
    revoke() {
      live = false
    },
    failed: () => failed,
    busy: () => running > 0,
  }
}

/** 25P02: the transaction was aborted by an earlier failed statement. */
const IN_FAILED_TRANSACTION = '25P02'

const ABORTED_ADVICE =
  'which aborts the PostgreSQL transaction even when the handler catches the error; write it so that it cannot fail (e.g. INSERT … ON CONFLICT DO NOTHING)'

/** PostgreSQL's "current transaction is aborted", told as what happened; other errors are left as they are. */
function explainAborted(err: unknown): unknown {
  if ((err as { code?: unknown } | null)?.code !== IN_FAILED_TRANSACTION) return err
  const explained = new Error(`an earlier statement of this handler failed, ${ABORTED_ADVICE}`, {
    cause: err,
  })
  return Object.assign(explained, { code: IN_FAILED_TRANSACTION })
}

/**
 * `cancelQuery` stops whatever query is running on `client`'s connection, from another connection
 * (a cancel request): a handler that timed out may have left one running, and the rollback of its writes
 * would otherwise wait behind it, holding the pooled connection.
 */
export function createPgStore(client: pg.PoolClient, cancelQuery?: () => Promise<void>): EventStore {
  let handlerGate: ReturnType<typeof revocablePgClient> | undefined
  const db = drizzle(client)

  async function find(provider: string, eventId: string): Promise<StoredEvent | undefined> {
    const [row] = await findEventForUpdate.run(client, { provider, eventId })
    if (!row) return undefined
    const [seq, status, attemptCount, type, payload, receivedAt, occurredAt] = row
    // As text (compiled-pg-query.ts): receivedAt read as Drizzle reads it, occurredAt in milliseconds (pgEpochMs).
    return {
      seq: Number(seq),
      status: status as EventStatus,
      attempts: Number(attemptCount),
      type: type as string,
      payload: payload as string | null,
      receivedAt: new Date(receivedAt as string),
      occurredAt: occurredAt === null ? null : new Date(Number(occurredAt)),
    }
  }

  return {
    dialect: 'postgres',
    async isStale(provider, objectKey, occurredAt, eventId) {
      const applied = await db
        .insert(objectVersions)
        .values({ provider, objectKey, occurredAt, eventId })
        .onConflictDoUpdate({
          target: [objectVersions.provider, objectVersions.objectKey],
          set: { occurredAt: sql`excluded.occurred_at`, eventId: sql`excluded.event_id` },
          setWhere: sql`${objectVersions.occurredAt} <= excluded.occurred_at`,
        })
        .returning({ objectKey: objectVersions.objectKey })
      return applied.length === 0
    },
    async bindTransmission(provider, transmissionId, bodySha256, at) {
      // Like the claim: a concurrent binder of the same id waits for the first transaction, then sees its row.
      const inserted = await db
        .insert(transmissions)
        .values({ provider, transmissionId, bodySha256, receivedAt: at })
        .onConflictDoNothing({ target: [transmissions.provider, transmissions.transmissionId] })
        .returning({ provider: transmissions.provider })
      if (inserted.length === 1) return true
      const [seen] = await db
        .select({ bodySha256: transmissions.bodySha256 })
        .from(transmissions)
        .where(and(eq(transmissions.provider, provider), eq(transmissions.transmissionId, transmissionId)))
      if (!seen) throw new Error('the transmission was neither recorded nor found; retry')
      return seen.bodySha256 === bodySha256
    },
    async claim(event) {
      const values = {
        provider: event.provider,
        eventId: event.eventId,
        type: event.type,
        payload: event.payload,
        receivedAt: event.receivedAt.toISOString(),
        occurredAt: event.occurredAt?.toISOString() ?? null,
      }
      // A row deleted by retention between the conflict and the lock is claimed again on the next turn.
      for (let turn = 0; turn < 3; turn++) {
        const [inserted] = await claimEvent.run(client, values)
        if (inserted) return { fresh: true, seq: Number(inserted[0]) }
        const existing = await find(event.provider, event.eventId)
        if (existing) return { row: existing, fresh: false }
      }
      throw new Error('could not claim the event')
    },
    find,
    async touch(provider, eventId, at) {
      await touchEvent.run(client, { provider, eventId, count: 1, at: at.toISOString() })
    },
    async saveOutcome({ provider, seq, values: v, previous, attempt: a }) {
      // The claim wrote the row (it is the lock), so there is always one to update.
      if (seq === null) throw new Error('a PostgreSQL claim always writes the event row')
      const moves = previous === v.status ? 0 : previous === null ? 1 : 2
      await saveOutcomeStatements[moves].run(client, {
        seq,
        type: v.type,
        status: v.status,
        attempts: v.attempts,
        payload: v.payload,
        processedAt: v.processedAt?.toISOString() ?? null,
        lastError: v.lastError,
        handlers: v.handlers,
        at: a.at.toISOString(),
        durationMs: a.durationMs,
        error: a.error,
        trigger: a.trigger,
        provider,
        previous: previous ?? '',
        // A random shard, so concurrent transactions rarely wait for each other's count row.
        shard: Math.floor(Math.random() * COUNT_SHARDS),
      })
    },
    async markHandlers() {
      await client.query('SAVEPOINT hookinbox_handlers')
    },
    async undoHandlers() {
      // Awaited before the rollback is sent: PostgreSQL ignores a cancel that arrives between queries, so it
      // cannot hit the rollback itself.
      if (handlerGate?.busy() && cancelQuery) await cancelQuery()
      await client.query('ROLLBACK TO SAVEPOINT hookinbox_handlers')
    },
    handlerTx() {
      const gate = revocablePgClient(client)
      handlerGate = gate
      const tx = drizzle(gate.client)
      // ctx.tx already is the event's transaction; drizzle's transaction() would send a nested BEGIN and its
      // COMMIT would end ours early.
      Object.defineProperty(tx, 'transaction', {
        value: () => {
          throw new Error('ctx.tx is already a transaction; nested transactions are not supported')
        },
      })
      return {
        tx: tx as unknown as HandlerTx,
        revoke: gate.revoke,
        async check() {
          // Costs a round trip only after one of the handler's statements failed, or while one it did not
          // wait for still runs (the check then queues behind it on the connection).
          if (!gate.failed() && !gate.busy()) return
          try {
            await client.query('SELECT 1')
          } catch (err) {
            if ((err as { code?: string }).code !== IN_FAILED_TRANSACTION) throw err
            throw new Error(`a statement of this handler failed, ${ABORTED_ADVICE}`)
          }
        },
      }
    },
  }
}
