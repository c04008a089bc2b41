/**
 * hookinbox's tables for the dialect chosen at start-up. Both schemas declare the same tables and columns,
 * and Drizzle's query builder is the same for both, so read-side and maintenance code takes these table
 * objects and is written once (typed with the SQLite declarations).
 */
import * as pgSchema from './pg-schema.ts'
import * as sqliteSchema from './schema.ts'

export interface Tables {
  events: typeof sqliteSchema.events
  attempts: typeof sqliteSchema.attempts
  rejections: typeof sqliteSchema.rejections
  paypalCerts: typeof sqliteSchema.paypalCerts
  objectVersions: typeof sqliteSchema.objectVersions
  statusCounts: typeof sqliteSchema.statusCounts
  transmissions: typeof sqliteSchema.transmissions
}

export const sqliteTables: Tables = sqliteSchema

/** The PostgreSQL tables seen through the SQLite declarations' types (same names, columns and meaning). */
export const pgTables: Tables = pgSchema as unknown as Tables
