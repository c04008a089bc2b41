/**
 * A stop signal that arrives while the service is starting up (loading handlers, migrating) is not lost and
 * does not end the process mid-way: the service finishes starting, then stops as it would at any other
 * time. Until the process has its handlers, SIGTERM's default action ends it at once, and the handlers used
 * to be installed only after the server was listening.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { runServer } from '../support/spawn-service.ts'
import { STRIPE_SECRET } from '../support/stripe-signing.ts'
import { tempDir } from '../support/temp-dir.ts'

const cleanups: Array<() => void> = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

describe('a stop signal during start-up', () => {
  it('lets start-up finish, then stops gracefully with exit 0', async () => {
    const dir = tempDir('signal-start')
    cleanups.push(dir.remove)
    const handlers = join(dir.path, 'handlers')
    mkdirSync(handlers)
    // A handler module that takes a while to load, and says when it begins: start-up is then under way.
    writeFileSync(
      join(handlers, 'slow-to-load.mjs'),
      "console.log('slow handler module loading')\nawait new Promise((r) => setTimeout(r, 1500))\nexport default { provider: 'stripe', events: ['*'], handle() {} }\n",
    )
    const run = runServer({
      HOST: '127.0.0.1',
      PORT: '0',
      DATABASE_URL: join(dir.path, 'db.sqlite'),
      HANDLERS_DIR: handlers,
      STRIPE_WEBHOOK_SECRET: STRIPE_SECRET,
    })
    cleanups.push(() => run.proc.kill('SIGKILL'))
    await expect.poll(() => run.output(), { timeout: 20_000 }).toContain('slow handler module loading')
    run.proc.kill('SIGTERM')
    expect(await run.exited).toEqual({ code: 0, signal: null })
    const output = run.output()
    expect(output).toContain('"msg":"hookinbox listening"')
    expect(output).toContain(
      '"signal":"SIGTERM","msg":"stopping: no new connections; finishing in-flight deliveries"',
    )
    expect(output).toContain('"msg":"hookinbox stopped"')
  })
})
