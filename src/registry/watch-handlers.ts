/**
 * Development mode: reload the handler files when one changes. A file that fails to load keeps the
 * previous handlers in place and logs why, so a typo while editing never stops the service.
 */
import { watch } from 'node:fs'
import { resolve } from 'node:path'
import type { Logger } from 'pino'
import type { HandlerRegistry } from './handler-registry.ts'
import { loadHandlers } from './load-handlers.ts'

export function watchHandlers(dir: string, registry: HandlerRegistry, log: Logger): () => void {
  let timer: NodeJS.Timeout | undefined
  let version = 0
  const reload = async () => {
    version++
    try {
      const handlers = await loadHandlers(dir, `${Date.now()}-${version}`)
      registry.replace(handlers)
      log.info({ handlers: handlers.map((h) => h.name) }, 'handlers reloaded')
    } catch (err) {
      log.error({ err: (err as Error).message }, 'handlers not reloaded; the previous ones stay active')
    }
  }
  const watcher = watch(resolve(dir), () => {
    // Editors write a file in several steps: wait for the burst to settle.
    clearTimeout(timer)
    timer = setTimeout(() => void reload(), 150)
  })
  return () => {
    clearTimeout(timer)
    watcher.close()
  }
}
