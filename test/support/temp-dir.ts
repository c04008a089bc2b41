import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TMP_ROOT = join(PROJECT_ROOT, 'test', '.tmp')

/**
 * A scratch folder inside the project (git-ignored), so handler files written there resolve the project's
 * packages (drizzle-orm, …) exactly as files in `handlers/` do.
 */
export function tempDir(prefix = 'case'): { path: string; remove(): void } {
  mkdirSync(TMP_ROOT, { recursive: true })
  const path = mkdtempSync(join(TMP_ROOT, `${prefix}-`))
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) }
}
