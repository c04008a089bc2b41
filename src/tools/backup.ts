/**
 * A consistent copy of the SQLite database, taken while the service runs (`npm run backup -- FILE`).
 *
 * `VACUUM INTO` writes the database as one read transaction sees it: every transaction committed before it
 * began, events and your own tables together, and nothing of one committed during it. It takes no write
 * lock, so deliveries go on meanwhile. (SQLite's online backup API, by contrast, starts over whenever another
 * connection writes, which under steady traffic may be always.) The copy is written beside FILE, flushed to
 * disk and only then given the name FILE (see publish), so a FILE that exists is always a whole backup.
 */

import { randomBytes } from 'node:crypto'
import {
  closeSync,
  existsSync,
  linkSync,
  lstatSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import Database from 'better-sqlite3'
import { isPostgresUrl, isUnsupportedDatabaseUrl, loadEnv, sqlitePath } from '../config.ts'
import { flushToDisk as flush } from '../flush-to-disk.ts'
import { runDirectly } from './run-directly.ts'

/** A backup that cannot be taken for a reason the user can fix; its message says which. */
export class BackupRefused extends Error {}

/** Whether anything is at `path`, a symbolic link to nothing included (existsSync follows it and says no). */
function taken(path: string): boolean {
  try {
    lstatSync(path)
    return true
  } catch {
    return false
  }
}

/**
 * Puts the finished copy at `target` unless something is there by then: link() refuses an existing name
 * atomically, where a check and then rename() would replace a file made in between (another backup's).
 */
function publish(partial: string, target: string, refusal: () => BackupRefused) {
  try {
    linkSync(partial, target)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw refusal()
    // A file system without hard links: the check and rename are the best it allows.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err
    if (taken(target)) throw refusal()
    renameSync(partial, target)
    return
  }
  rmSync(partial, { force: true })
}

/**
 * A backup's own partial file beside FILE: `FILE.<pid>-<8 hex>.partial`. A file at `FILE.partial` may be another
 * backup's, being written now (two backups to one name at once), or the user's; removing or reusing it would
 * let the other backup publish a copy half written.
 */
const partialPath = (target: string) => `${target}.${process.pid}-${randomBytes(4).toString('hex')}.partial`
/** What follows FILE in the name of a partial file made by partialPath. */
const PARTIAL_SUFFIX = /^\.\d+-[0-9a-f]{8}\.partial$/

/**
 * Partial files an interrupted backup to FILE left beside it. Never removed here (one may be another backup's,
 * being written), only named: each is a copy of the payloads, outside retention.
 */
export function leftoverPartials(backupFile: string): string[] {
  const target = resolve(backupFile)
  const name = basename(target)
  try {
    return readdirSync(dirname(target))
      .filter((entry) => entry.startsWith(name) && PARTIAL_SUFFIX.test(entry.slice(name.length)))
      .map((entry) => join(dirname(target), entry))
  } catch {
    return []
  }
}

export function backupSqlite(databaseFile: string, backupFile: string): { bytes: number } {
  const target = resolve(backupFile)
  const exists = () => new BackupRefused(`${backupFile} exists already: give a new file name`)
  if (taken(target)) throw exists()
  if (!existsSync(databaseFile)) throw new BackupRefused(`there is no database at ${databaseFile}`)
  if (!existsSync(dirname(target))) throw new BackupRefused(`the folder of ${backupFile} does not exist`)
  const partial = partialPath(target)
  // Created empty first, for its owner alone (it holds the payloads): VACUUM INTO fills an empty file as it is.
  closeSync(openSync(partial, 'wx', 0o600))
  let source: Database.Database | undefined
  try {
    source = new Database(databaseFile, { readonly: true, fileMustExist: true })
    source.pragma('busy_timeout = 5000')
    source.prepare('VACUUM INTO ?').run(partial)
    flush(partial, 'r+')
    source.close()
    source = undefined
    publish(partial, target, exists)
  } catch (err) {
    rmSync(partial, { force: true })
    throw err
  } finally {
    source?.close()
  }
  flush(dirname(target), 'r')
  return { bytes: statSync(target).size }
}

function main() {
  const [file, ...rest] = process.argv.slice(2)
  if (!file || rest.length > 0 || file.startsWith('-')) {
    process.stderr.write('usage: npm run backup -- FILE   (a new file; the database is DATABASE_URL’s)\n')
    process.exit(2)
  }
  const url = loadEnv().DATABASE_URL
  if (url !== undefined && isPostgresUrl(url)) {
    process.stderr.write('backup: DATABASE_URL is PostgreSQL: back it up with pg_dump (see the README)\n')
    process.exit(2)
  }
  if (url !== undefined && isUnsupportedDatabaseUrl(url)) {
    // Never echoed: it may hold a password.
    process.stderr.write('backup: DATABASE_URL names no database hookinbox can use\n')
    process.exit(78)
  }
  const database = sqlitePath(url)
  const leftovers = leftoverPartials(file)
  if (leftovers.length > 0) {
    process.stderr.write(
      `backup: interrupted backups left ${leftovers.join(', ')}: each is a copy of the events; delete them unless one is still being written\n`,
    )
  }
  try {
    const { bytes } = backupSqlite(database, file)
    process.stdout.write(`backed up ${database} to ${file} (${bytes} bytes)\n`)
  } catch (err) {
    process.stderr.write(`backup: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  }
}

if (runDirectly(import.meta.url)) main()
