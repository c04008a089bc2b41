/**
 * Whether the module at `moduleUrl` is the script node was started with (`node --import tsx src/tools/x.ts`).
 *
 * Not `import.meta.url === \`file://${process.argv[1]}\``: the URL percent-encodes a space or any non-ASCII
 * letter of the path, and node resolves the main module through symbolic links while argv[1] keeps them, so
 * in a project folder such as `~/My Projects/hookinbox` that test is false and the tool exits 0 having done
 * nothing.
 */
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export function runDirectly(moduleUrl: string): boolean {
  const script = process.argv[1]
  if (!script) return false
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(moduleUrl))
  } catch {
    return false
  }
}
