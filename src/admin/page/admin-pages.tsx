/** @jsxImportSource hono/jsx */
/**
 * The operator's page: the event history with the API's filters and paging, an event's detail with its
 * payload and attempt log, and a replay button for failed and parked events. Server-rendered with hono/jsx
 * (every value is escaped by JSX), no build step, no CDN, a strict Content-Security-Policy.
 */
import { Hono, type MiddlewareHandler } from 'hono'
import { csrf } from 'hono/csrf'
import type { Child } from 'hono/jsx'
import { EVENT_STATUSES } from '../../db/schema.ts'
import { AppError, isAppError } from '../../errors.ts'
import type { Inbox } from '../../inbox/inbox.ts'
import { PROVIDER_NAMES, type ProviderName } from '../../providers/provider.ts'
import type { EventDetail, EventHistory, EventSummary } from '../event-history.ts'
import { parseListRequest } from '../list-filter.ts'
import { ADMIN_CSS, ADMIN_JS } from './assets.ts'

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
}

const Time = ({ value }: { value: string | null }) =>
  value ? <time datetime={value}>{value}</time> : <span>—</span>
const Status = ({ status }: { status: string }) => <span class={`status status-${status}`}>{status}</span>
const eventHref = (e: { provider: string; eventId: string }) =>
  `/admin/events/${encodeURIComponent(e.provider)}/${encodeURIComponent(e.eventId)}`

function Layout({ title, children }: { title: string; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{title} · hookinbox</title>
        <link rel="stylesheet" href="/admin/assets/admin.css" />
      </head>
      <body>
        <header>
          <h1>
            <a href="/admin">hookinbox</a>
          </h1>
          <span>event history</span>
        </header>
        <main>{children}</main>
        <script src="/admin/assets/admin.js" />
      </body>
    </html>
  )
}

function Filters({ query }: { query: Record<string, string | undefined> }) {
  const v = (k: string) => query[k] ?? ''
  return (
    <form class="filters" method="get" action="/admin">
      <label>
        Provider
        <select name="provider">
          <option value="">any</option>
          {PROVIDER_NAMES.map((p) => (
            <option value={p} selected={v('provider') === p}>
              {p}
            </option>
          ))}
        </select>
      </label>
      <label>
        Status
        <select name="status">
          <option value="">any</option>
          {EVENT_STATUSES.map((s) => (
            <option value={s} selected={v('status') === s}>
              {s}
            </option>
          ))}
        </select>
      </label>
      <label>
        Type
        <input name="type" value={v('type')} placeholder="exact event type" />
      </label>
      <label>
        Search
        <input name="q" value={v('q')} placeholder="event id or type prefix" />
      </label>
      <label>
        Since (UTC)
        <input
          name="since"
          title="a date or date-time; without a zone it is read as UTC"
          value={v('since')}
          placeholder="2026-01-31"
        />
      </label>
      <label>
        Until (UTC)
        <input
          name="until"
          title="a date or date-time; without a zone it is read as UTC"
          value={v('until')}
          placeholder="2026-02-01T12:00Z"
        />
      </label>
      <label>
        Per page
        <input name="limit" value={v('limit') || '50'} size={4} />
      </label>
      <button type="submit">Filter</button>
      <a href="/admin">
        <button type="button" class="secondary">
          Clear
        </button>
      </a>
    </form>
  )
}

function EventTable({ events }: { events: EventSummary[] }) {
  if (events.length === 0) return <p class="empty">No events match.</p>
  return (
    <table>
      <thead>
        <tr>
          <th>Received</th>
          <th>Provider</th>
          <th>Event id</th>
          <th>Type</th>
          <th>Status</th>
          <th>Attempts</th>
          <th>Handlers</th>
          <th>Last error</th>
        </tr>
      </thead>
      <tbody>
        {events.map((e) => (
          <tr data-event-id={e.eventId}>
            <td>
              <Time value={e.receivedAt} />
            </td>
            <td>{e.provider}</td>
            <td class="id">
              <a href={eventHref(e)}>{e.eventId}</a>
            </td>
            <td>{e.type}</td>
            <td>
              <Status status={e.status} />
            </td>
            <td>{e.attempts}</td>
            <td>{e.handlers.join(', ')}</td>
            <td class="error" title={e.lastError ?? ''}>
              {e.lastError ?? ''}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}

/**
 * What a redirect may tell the detail page, by code. The page writes the words itself: text taken from the
 * URL, even escaped, would let a crafted link show anything on the genuine admin origin ("session expired,
 * re-enter your token at …"). An unknown code shows nothing.
 */
const NOTICES = {
  replayed: (event: EventDetail) => `Replayed: the event is now ${event.status}.`,
  already_settled: () => 'Not replayed: only failed, parked or ignored events replay.',
  payload_pruned: () => 'Not replayed: the payload of this event was pruned.',
  not_replayed: () => 'Not replayed.',
} satisfies Record<string, (event: EventDetail) => string>
type NoticeCode = keyof typeof NOTICES

// Own keys only: `constructor` or `__proto__` must not reach Object.prototype.
const isNoticeCode = (code: string | undefined): code is NoticeCode =>
  code !== undefined && Object.hasOwn(NOTICES, code)

function Detail({ event, notice }: { event: EventDetail; notice?: string }) {
  const replayable = event.status !== 'processed'
  return (
    <>
      <p>
        <a href="/admin">← all events</a>
      </p>
      <h2>
        {event.provider} · {event.eventId}
      </h2>
      {notice ? <p class="notice">{notice}</p> : null}
      <dl class="facts">
        <dt>Type</dt>
        <dd>{event.type}</dd>
        <dt>Status</dt>
        <dd>
          <Status status={event.status} />
        </dd>
        <dt>Attempts</dt>
        <dd>{event.attempts}</dd>
        <dt>Occurred (provider's time)</dt>
        <dd>
          <Time value={event.occurredAt} />
        </dd>
        <dt>Received</dt>
        <dd>
          <Time value={event.receivedAt} />
        </dd>
        <dt>Processed</dt>
        <dd>
          <Time value={event.processedAt} />
        </dd>
        <dt>Handlers</dt>
        <dd>{event.handlers.join(', ') || '—'}</dd>
        <dt>Duplicates seen</dt>
        <dd>{event.duplicates}</dd>
        <dt>Last error</dt>
        <dd>{event.lastError ?? '—'}</dd>
      </dl>
      {replayable ? (
        <form method="post" action={`${eventHref(event)}/replay`}>
          <p>
            <button type="submit" id="replay">
              Replay this event
            </button>
          </p>
        </form>
      ) : null}
      <h3>Attempt log</h3>
      <table>
        <thead>
          <tr>
            <th>At</th>
            <th>Trigger</th>
            <th>Outcome</th>
            <th>Duration</th>
            <th>Error</th>
          </tr>
        </thead>
        <tbody>
          {event.attemptLog.map((a) => (
            <tr>
              <td>
                <Time value={a.at} />
              </td>
              <td>{a.trigger}</td>
              <td>
                <Status status={a.outcome} />
              </td>
              <td>{a.durationMs} ms</td>
              <td>{a.error ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>Payload</h3>
      <pre class="payload">
        {event.payload === null ? '(pruned)' : JSON.stringify(event.payload, null, 2)}
      </pre>
    </>
  )
}

export interface AdminPageDeps {
  history: EventHistory
  inbox: Inbox
}

export function adminPages(deps: AdminPageDeps): Hono {
  const app = new Hono()
  const withSecurityHeaders: MiddlewareHandler = async (c, next) => {
    await next()
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(k, v)
  }
  app.use('/admin', withSecurityHeaders)
  app.use('/admin/*', withSecurityHeaders)
  // Forms post with the browser's Basic credentials, so refuse cross-site form posts (CSRF).
  // POST only: the page posts nothing else, and another method must meet its 405, not a 403.
  const refuseCrossSiteForms = csrf()
  app.use('/admin/events/*', (c, next) => (c.req.method === 'POST' ? refuseCrossSiteForms(c, next) : next()))

  app.get('/admin/assets/admin.css', (c) =>
    c.body(ADMIN_CSS, 200, { 'content-type': 'text/css; charset=utf-8' }),
  )
  app.get('/admin/assets/admin.js', (c) =>
    c.body(ADMIN_JS, 200, { 'content-type': 'text/javascript; charset=utf-8' }),
  )

  // Typed with a trailing slash, the page's address still works (its links are absolute).
  app.get('/admin/', (c) => c.redirect(`/admin${new URL(c.req.url).search}`, 301))

  app.get('/admin', async (c) => {
    const query = c.req.query()
    let body: Child
    let status: 200 | 400 = 200
    try {
      const page = await deps.history.list(parseListRequest(query), c.req.raw.signal)
      const next = page.nextCursor
        ? `/admin?${new URLSearchParams({ ...query, cursor: page.nextCursor })}`
        : null
      body = (
        <>
          <Filters query={query} />
          <EventTable events={page.events} />
          <div class="pager">
            <span>{page.events.length} shown</span>
            {query.cursor ? (
              <a href={`/admin?${new URLSearchParams({ ...query, cursor: '' })}`}>newest</a>
            ) : null}
            {next ? (
              <a href={next} id="next-page">
                older →
              </a>
            ) : null}
          </div>
        </>
      )
    } catch (err) {
      if (!isAppError(err) || err.status !== 400) throw err
      status = 400
      body = (
        <>
          <Filters query={query} />
          <p class="notice">{err.message}</p>
        </>
      )
    }
    return c.html(<Layout title="Events">{body}</Layout>, status)
  })

  const detail = async (provider: string, eventId: string, code: string | undefined) => {
    const event = PROVIDER_NAMES.includes(provider as ProviderName)
      ? await deps.history.getEvent(provider, eventId)
      : undefined
    if (!event) throw new AppError('not_found', 'no such event')
    return (
      <Layout title={event.eventId}>
        <Detail event={event} {...(isNoticeCode(code) ? { notice: NOTICES[code](event) } : {})} />
      </Layout>
    )
  }

  app.get('/admin/events/:provider/:eventId', async (c) =>
    c.html(await detail(c.req.param('provider'), c.req.param('eventId'), c.req.query('notice'))),
  )

  app.post('/admin/events/:provider/:eventId/replay', async (c) => {
    const provider = c.req.param('provider')
    const eventId = c.req.param('eventId')
    if (!PROVIDER_NAMES.includes(provider as ProviderName)) throw new AppError('not_found', 'no such event')
    let notice: NoticeCode
    try {
      await deps.inbox.replay(provider as ProviderName, eventId)
      notice = 'replayed'
    } catch (err) {
      if (!isAppError(err) || err.status >= 500) throw err
      notice =
        err.reason === 'already_settled' || err.reason === 'payload_pruned' ? err.reason : 'not_replayed'
    }
    const target = `/admin/events/${encodeURIComponent(provider)}/${encodeURIComponent(eventId)}`
    return c.redirect(`${target}?${new URLSearchParams({ notice })}`, 303)
  })
  return app
}
