/** Flushes a file's contents, or a folder's entries (a rename in it), to disk. */
import { closeSync, fsyncSync, openSync } from 'node:fs'

export function flushToDisk(path: string, flags: 'r' | 'r+'): void {
  const fd = openSync(path, flags)
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}
