/**
 * The README's "first five minutes", run for real: start development mode with no configuration, send a
 * signed test event of each provider, see it in /admin, write a handler, send again and watch it run.
 */
import { cpSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import type { EventPage } from '../../src/admin/event-history.ts'
import { main as send } from '../../src/cli/send.ts'
import { runServer, type SpawnedService } from '../support/spawn-service.ts'
import { PROJECT_ROOT, tempDir } from '../support/temp-dir.ts'

/** The README's own first handler, exactly as printed there (the code block that starts with its path). */
function readmeFirstHandler(): string {
  const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8')
  const block = /```ts\n(\/\/ handlers\/my-first-handler\.ts\n[\s\S]*?)```/.exec(readme)?.[1]
  if (block === undefined) throw new Error('README.md has no handlers/my-first-handler.ts block')
  return block
}

/** Starts `npm run dev`'s entry and resolves once it listens (port 0 picks a free one). */
async function startDev(env: Record<string, string>): Promise<SpawnedService> {
  const run = runServer({ HOST: '127.0.0.1', PORT: '0', ...env }, undefined, 'src/dev.ts')
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dev mode did not start:\n${run.output()}`)), 20_000)
    const check = setInterval(() => {
      const m = /"port":(\d+)[^\n]*"msg":"hookinbox listening"/.exec(run.output())
      if (m) {
        clearInterval(check)
        clearTimeout(timer)
        resolve(Number(m[1]))
      }
    }, 50)
    run.exited.then(() => {
      clearInterval(check)
      clearTimeout(timer)
      reject(new Error(`dev mode exited:\n${run.output()}`))
    })
  })
  return { ...run, port, url: `http://127.0.0.1:${port}` }
}

const capture = () => {
  let text = ''
  return { write: (chunk: string) => (text += chunk), text: () => text }
}

const waitFor = async (what: () => boolean, ms = 10_000) => {
  const until = Date.now() + ms
  while (!what()) {
    if (Date.now() > until) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('the first five minutes', () => {
  const dir = tempDir('five-minutes')
  let dev: SpawnedService | undefined
  afterAll(async () => {
    dev?.proc.kill('SIGTERM')
    await dev?.exited
    dir.remove()
  })

  it('start, send, see it in /admin, write a handler, send again', async () => {
    // A fresh clone's layout: the example handlers as shipped, importing `../src/handlers.ts`.
    const handlers = join(dir.path, 'handlers')
    const database = join(dir.path, 'data', 'hookinbox.db')
    cpSync(join(PROJECT_ROOT, 'handlers'), handlers, { recursive: true })
    symlinkSync(join(PROJECT_ROOT, 'src'), join(dir.path, 'src'))
    // 1. Start development mode with no provider configured at all.
    dev = await startDev({ HANDLERS_DIR: handlers, DATABASE_URL: database })
    // The banner goes to stderr right after the "listening" line goes to stdout: the two pipes may deliver
    // them in either order, so wait for it rather than expect it already there.
    const started = dev
    await waitFor(() => /password: the ADMIN_TOKEN above/.test(started.output()))
    expect(started.output()).toMatch(/ADMIN_TOKEN=\S{24}/)
    const secrets = JSON.parse(readFileSync(join(dir.path, 'data', 'dev-secrets.json'), 'utf8'))
    expect(secrets.stripe.webhookSecret).toMatch(/^whsec_dev_[0-9a-f]{48}$/)

    // 2. Send a signed test event of each provider with `hookinbox send`; it finds the same dev secrets.
    const io = (out = capture()) => ({
      env: { DATABASE_URL: database },
      cwd: dir.path,
      stdout: out,
      stderr: out,
    })
    for (const [provider, type] of [
      ['stripe', 'checkout.session.completed'],
      ['paypal', 'PAYMENT.CAPTURE.COMPLETED'],
      ['adyen', 'AUTHORISATION'],
    ]) {
      const out = capture()
      const code = await send([provider as string, type as string, '--url', dev.url], io(out))
      expect(code, out.text()).toBe(0)
    }

    // 3. See them in /admin with the dev admin token.
    const auth = { authorization: `Bearer ${secrets.adminToken}` }
    const page = (await fetch(`${dev.url}/admin/api/events`, { headers: auth }).then((r) =>
      r.json(),
    )) as EventPage
    expect(page.events.map((e) => e.provider).sort()).toEqual(['adyen', 'paypal', 'stripe'])
    // The example handler takes the Checkout session; nothing subscribes to the other two.
    const byProvider = Object.fromEntries(page.events.map((e) => [e.provider, e]))
    expect(byProvider.stripe).toMatchObject({ status: 'processed', handlers: ['checkout-completed'] })
    expect(byProvider.paypal).toMatchObject({ status: 'ignored', handlers: [] })
    expect(byProvider.adyen).toMatchObject({ status: 'ignored', handlers: [] })

    // 4. Write the README's handler; development mode reloads it.
    writeFileSync(join(handlers, 'my-first-handler.ts'), readmeFirstHandler())
    await waitFor(() => (dev as SpawnedService).output().includes('handlers reloaded'))

    // 5. Send again: the new event is processed by the example handler and the new one, in file-name order.
    const out = capture()
    expect(
      await send(['stripe', 'checkout.session.completed', '--url', dev.url, '--repeat', '3'], io(out)),
    ).toBe(0)
    expect(out.text()).toMatch(/1 processed, 2 duplicates/)
    await waitFor(() => (dev as SpawnedService).output().includes('my first handler ran'))
    expect(dev.output().split('my first handler ran').length - 1).toBe(1)
    const latest = (await fetch(`${dev.url}/admin/api/events?limit=1`, { headers: auth }).then((r) =>
      r.json(),
    )) as EventPage
    expect(latest.events[0]).toMatchObject({
      provider: 'stripe',
      status: 'processed',
      handlers: ['checkout-completed', 'my-first-handler'],
    })
  })

  it('with an ADMIN_TOKEN of your own, the banner neither prints it nor points at a token it did not print', async () => {
    const token = 'my-own-admin-token-0123456789'
    const own = await startDev({
      HANDLERS_DIR: join(PROJECT_ROOT, 'handlers'),
      DATABASE_URL: join(dir.path, 'own-token', 'hookinbox.db'),
      ADMIN_TOKEN: token,
    })
    try {
      await waitFor(() => /password: /.test(own.output()))
      expect(own.output()).toMatch(/\/admin \(user: anything, password: your ADMIN_TOKEN\)/)
      expect(own.output()).not.toContain(token)
      expect(own.output()).not.toContain('ADMIN_TOKEN=')
    } finally {
      own.proc.kill('SIGTERM')
      await own.exited
    }
  })

  it('development mode refuses to start with NODE_ENV=production', async () => {
    const run = runServer(
      { NODE_ENV: 'production', DATABASE_URL: join(dir.path, 'prod', 'db.sqlite') },
      undefined,
      'src/dev.ts',
    )
    const { code } = await run.exited
    expect(code).toBe(78)
    expect(run.output()).toMatch(/refuses to run with NODE_ENV=production/)
  })
})
