import type { Handler } from '../handlers.ts'
import type { ProviderName } from '../providers/provider.ts'

/** A handler as loaded: its name is settled and it remembers the file it came from. */
export interface LoadedHandler extends Handler {
  name: string
  file: string
}

export interface HandlerRegistry {
  readonly handlers: readonly LoadedHandler[]
  /** The handlers for an event, in file-name order: exact provider or `*`, exact event type or `*`. */
  match(provider: ProviderName, type: string): readonly LoadedHandler[]
  /** Swaps in a new set of handlers (development mode's reload); events already running keep theirs. */
  replace(handlers: readonly LoadedHandler[]): void
}

export function createHandlerRegistry(initial: readonly LoadedHandler[]): HandlerRegistry {
  let handlers = initial
  const cache = new Map<string, readonly LoadedHandler[]>()
  return {
    get handlers() {
      return handlers
    },
    replace(next) {
      handlers = next
      cache.clear()
    },
    match(provider, type) {
      const key = `${provider}\u0000${type}`
      let found = cache.get(key)
      if (!found) {
        found = handlers.filter(
          (h) =>
            (h.provider === '*' || h.provider === provider) && (h.events === '*' || h.events.includes(type)),
        )
        // Event types come from verified deliveries, but bound the cache anyway.
        if (cache.size < 10_000) cache.set(key, found)
      }
      return found
    },
  }
}
