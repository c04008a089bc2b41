/**
 * The committed migrations are what `npm run db:generate` makes of the schema. drizzle-kit generate, run with
 * the project's own configs on a copy of their migrations folder, finds nothing left to write; and the
 * migrations, applied one after the other, build the same tables as the schema does from nothing (so no
 * migration was edited by hand away from its snapshot). Someone who edits src/db/schema.ts,
 * src/db/pg-schema.ts or handlers/_schema*.ts and forgets to generate gets a failure here that names the
 * command and shows the migration they are missing, instead of a database at start-up that lacks the column.
 * Everything is written to a scratch folder outside the project.
 */
import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { promisify, stripVTControlCharacters } from 'node:util'
import Database from 'better-sqlite3'
import { drizzle as sqliteDrizzle } from 'drizzle-orm/better-sqlite3'
import { migrate as sqliteMigrate } from 'drizzle-orm/better-sqlite3/migrator'
import { drizzle as pgDrizzle } from 'drizzle-orm/node-postgres'
import { migrate as pgMigrate } from 'drizzle-orm/node-postgres/migrator'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import sqliteConfig from '../../src/db/drizzle.config.ts'
import pgConfig from '../../src/db/drizzle.pg.config.ts'
import { PG_MIGRATIONS } from '../../src/db/postgres.ts'
import { SQLITE_MIGRATIONS } from '../../src/db/sqlite.ts'
import { freshSchema, type PgSchema, postgresAvailable } from '../support/postgres.ts'
import { PROJECT_ROOT } from '../support/temp-dir.ts'

const run = promisify(execFile)
// drizzle-kit's package exports only its API; its CLI lies next to the entry point.
const DRIZZLE_KIT = join(dirname(createRequire(import.meta.url).resolve('drizzle-kit')), 'bin.cjs')

type KitConfig = typeof sqliteConfig
const scratch = mkdtempSync(join(tmpdir(), 'hookinbox-migrations-'))
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const schemaFiles = (config: KitConfig) =>
  (Array.isArray(config.schema) ? config.schema : [config.schema]).map((s) => resolve(PROJECT_ROOT, s ?? ''))

interface Generated {
  /** The migrations folder drizzle-kit wrote to (in the scratch folder). */
  folder: string
  /** Its migrations that were not there before. */
  written: string[]
  output: string
}

/**
 * Runs `drizzle-kit generate` as `npm run db:generate` does for `config`, in a scratch folder: on a copy of
 * the committed migrations, or on none (then it writes the whole schema as one migration).
 */
async function generate(config: KitConfig, start: 'committed' | 'nothing'): Promise<Generated> {
  const out = config.out ?? 'drizzle'
  const cwd = mkdtempSync(join(scratch, 'generate-'))
  const folder = join(cwd, out)
  if (start === 'committed') cpSync(resolve(PROJECT_ROOT, out), folder, { recursive: true })
  else mkdirSync(folder, { recursive: true })
  // drizzle-kit reads `out` relative to the working directory (an absolute one gets './' put before it),
  // so it runs in the scratch folder; the schema files are the project's, by absolute path.
  const configFile = join(cwd, 'drizzle.config.mjs')
  writeFileSync(
    configFile,
    `export default ${JSON.stringify({ ...config, schema: schemaFiles(config), out })}\n`,
  )
  const before = new Set(readdirSync(folder))
  // stdin is not a terminal here, so a question (is this column renamed?) fails at once instead of waiting.
  const result = await run(process.execPath, [DRIZZLE_KIT, 'generate', '--config', configFile], {
    cwd,
    timeout: 20_000,
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  }).catch((err: { stdout?: string; stderr?: string; message: string }) => ({
    stdout: err.stdout ?? '',
    stderr: `${err.stderr ?? ''}\n${err.message}`,
  }))
  return {
    folder,
    written: readdirSync(folder).filter((f) => !before.has(f) && f.endsWith('.sql')),
    output: stripVTControlCharacters(`${result.stdout}\n${result.stderr}`).trim(),
  }
}

/** What is wrong with the committed migrations of `config`, or undefined when nothing is. */
async function whatGenerateWouldChange(config: KitConfig): Promise<string | undefined> {
  const folder = relative(PROJECT_ROOT, resolve(PROJECT_ROOT, config.out ?? 'drizzle'))
  const sources = schemaFiles(config)
    .map((f) => relative(PROJECT_ROOT, f))
    .join(', ')
  const fix = `run \`npm run db:generate\` and commit what it writes to ${folder}/`
  const generated = await generate(config, 'committed')
  if (generated.written.length > 0) {
    const sql = generated.written
      .map((f) => `-- ${f}\n${readFileSync(join(generated.folder, f), 'utf8')}`)
      .join('\n')
    return `${folder}/ is behind ${sources}: ${fix}. drizzle-kit would add:\n${sql}`
  }
  // drizzle-kit exits 0 even when it fails (a rename it wants to ask about needs a terminal, a schema file
  // that does not load), so success is its own "nothing to migrate" line.
  if (!/No schema changes, nothing to migrate/.test(generated.output)) {
    return `drizzle-kit generate did not confirm that ${folder}/ matches ${sources}: ${fix} (in a terminal, if it asks about renames). It said:\n${generated.output}`
  }
  return undefined
}

/** The tables of a SQLite database as drizzle-kit's choices show in them; column order aside. */
function sqliteTables(db: Database.Database) {
  const tables = db
    .prepare(
      "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '__drizzle_migrations' ORDER BY name",
    )
    .all() as Array<{ name: string; sql: string }>
  const byName = <T extends { name: string }>(rows: T[]) => rows.sort((a, b) => a.name.localeCompare(b.name))
  return tables.map((t) => ({
    table: t.name,
    autoincrement: /AUTOINCREMENT/i.test(t.sql),
    columns: byName(db.pragma(`table_xinfo("${t.name}")`) as Array<{ name: string; cid?: number }>).map(
      ({ cid: _, ...c }) => c,
    ),
    indexes: byName(db.pragma(`index_list("${t.name}")`) as Array<{ name: string; seq?: number }>).map(
      ({ seq: _, ...i }) => ({
        ...i,
        on: (db.pragma(`index_info("${i.name}")`) as Array<{ name: string }>).map((c) => c.name),
      }),
    ),
    foreignKeys: db.pragma(`foreign_key_list("${t.name}")`),
  }))
}

/** The same for the tables of a PostgreSQL schema; the schema's name is left out of the definitions. */
async function pgTables(schema: PgSchema) {
  const unnamed = (text: string | null) => text?.replaceAll(`${schema.name}.`, '') ?? null
  const columns = await schema.query<Record<string, string | null>>(
    `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
     WHERE table_schema = $1 AND table_name <> '__drizzle_migrations' ORDER BY table_name, column_name`,
    [schema.name],
  )
  const constraints = await schema.query<{ table: string; name: string; def: string }>(
    `SELECT r.relname AS table, c.conname AS name, pg_get_constraintdef(c.oid) AS def
     FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace
     WHERE n.nspname = $1 AND r.relname <> '__drizzle_migrations' ORDER BY 1, 2`,
    [schema.name],
  )
  const indexes = await schema.query<{ tablename: string; indexname: string; indexdef: string }>(
    `SELECT tablename, indexname, indexdef FROM pg_indexes
     WHERE schemaname = $1 AND tablename <> '__drizzle_migrations' ORDER BY 1, 2`,
    [schema.name],
  )
  return {
    columns: columns.map((c) => ({ ...c, column_default: unnamed(c.column_default ?? null) })),
    constraints: constraints.map((c) => ({ ...c, def: unnamed(c.def) })),
    indexes: indexes.map((i) => ({ ...i, indexdef: unnamed(i.indexdef) })),
  }
}

const DIFFERENT_TABLES = (folder: string) =>
  `the migrations in ${folder}/ build other tables than the schema declares: was one edited, or written by hand? Put the change in the schema and run \`npm run db:generate\``

describe('the committed migrations match the schema', () => {
  it('SQLite: drizzle-kit generate finds nothing to add to drizzle/sqlite/', async () => {
    expect(await whatGenerateWouldChange(sqliteConfig)).toBeUndefined()
  })

  it('PostgreSQL: drizzle-kit generate finds nothing to add to drizzle/pg/', async () => {
    expect(await whatGenerateWouldChange(pgConfig)).toBeUndefined()
  })

  it('SQLite: the migrations, applied in turn, build the tables the schema builds from nothing', async () => {
    const fromSchema = await generate(sqliteConfig, 'nothing')
    const built = (folder: string) => {
      const db = new Database(':memory:')
      try {
        sqliteMigrate(sqliteDrizzle(db), { migrationsFolder: folder })
        return sqliteTables(db)
      } finally {
        db.close()
      }
    }
    const expected = built(fromSchema.folder)
    expect(expected.length, fromSchema.output).toBeGreaterThan(0)
    expect(built(SQLITE_MIGRATIONS), DIFFERENT_TABLES('drizzle/sqlite')).toEqual(expected)
  })

  it.skipIf(!postgresAvailable)(
    'PostgreSQL: the migrations, applied in turn, build the tables the schema builds from nothing',
    async () => {
      const fromSchema = await generate(pgConfig, 'nothing')
      const built = async (folder: string) => {
        const schema = await freshSchema('kit')
        const client = new pg.Client({ connectionString: schema.url })
        try {
          await client.connect()
          await pgMigrate(pgDrizzle(client), { migrationsFolder: folder, migrationsSchema: schema.name })
          return await pgTables(schema)
        } finally {
          await client.end()
          await schema.drop()
        }
      }
      const expected = await built(fromSchema.folder)
      expect(expected.columns.length, fromSchema.output).toBeGreaterThan(0)
      expect(await built(PG_MIGRATIONS), DIFFERENT_TABLES('drizzle/pg')).toEqual(expected)
    },
  )
})
