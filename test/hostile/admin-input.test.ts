/**
 * Hostile input on /admin: SQL-like, oversized, malformed, unicode and NUL-laden filter values, bad cursors,
 * prototype keys, weird event ids on the detail and replay endpoints, hostile bulk-replay bodies and wrong
 * credentials. Every answer is a 2xx with an honest (usually empty) result or a 4xx with a JSON error (or
 * an escaped HTML page): never a 500, never a database error text, never a secret. The tables are intact
 * afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ADMIN_TOKEN,
  eventCount,
  type HostileService,
  prototypeSnapshot,
  type Reply,
  secretSpellings,
  send,
  startHostileService,
  stripeSign,
} from './support.ts'

const BEARER: [string, string] = ['Authorization', `Bearer ${ADMIN_TOKEN}`]
const RUN = Date.now().toString(36)
const OK_IDS = [0, 1, 2].map((i) => `evt_admin_ok_${RUN}_${i}`)
const FAILED_ID = `evt_admin_failed_${RUN}`

let env: HostileService
let eventsAtStart = 0
const prototypeBefore = prototypeSnapshot()

async function postStripe(id: string, type: string) {
  const body = Buffer.from(JSON.stringify({ id, object: 'event', type, data: { object: {} } }))
  const { t, v1 } = stripeSign(body, Math.floor(Date.now() / 1000))
  return send(env.svc.url, {
    path: '/webhooks/stripe',
    headers: [
      ['Stripe-Signature', `t=${t},v1=${v1}`],
      ['Content-Length', String(body.length)],
    ],
    body,
  })
}

beforeAll(async () => {
  env = await startHostileService(
    {},
    {
      'admin-hostile.ts': `export default [
  { name: 'ok', provider: 'stripe', events: ['hostile.ok'], async handle() {} },
  { name: 'fail', provider: 'stripe', events: ['hostile.fail'], async handle() { throw new Error('handler failed on purpose') } },
]
`,
    },
  )
  for (const id of OK_IDS) expect((await postStripe(id, 'hostile.ok')).status).toBe(200)
  expect((await postStripe(FAILED_ID, 'hostile.fail')).status).toBe(500)
  eventsAtStart = eventCount(env.svc)
})
afterAll(async () => {
  await env?.dispose()
})

const get = (path: string, headers: Array<[string, string]> = [BEARER]) =>
  send(env.svc.url, { method: 'GET', path, headers })
const post = (path: string, body?: string, headers: Array<[string, string]> = [BEARER]) => {
  const bytes = Buffer.from(body ?? '')
  return send(env.svc.url, {
    path,
    headers: [...headers, ['Content-Type', 'application/json'], ['Content-Length', String(bytes.length)]],
    body: bytes,
  })
}

/** What no admin answer may ever contain. */
const LEAKS = [
  /SqliteError/,
  /SQLITE_/,
  /syntax error/i,
  /no such (column|table)/i,
  /\bSELECT\s/,
  /\bat \S+\.tsx?:\d+/,
]

function checkSafe(reply: Reply, allowed: number[]) {
  expect(allowed, `status ${reply.status}: ${reply.text.slice(0, 200)}`).toContain(reply.status)
  for (const secret of secretSpellings()) expect(reply.text).not.toContain(secret)
  for (const leak of LEAKS) expect(reply.text).not.toMatch(leak)
  if (reply.status >= 400 && reply.contentType?.startsWith('application/json')) {
    expect(Object.keys(JSON.parse(reply.text))).toEqual(['error'])
  }
}

const enc = encodeURIComponent

describe('admin list filters', () => {
  const noMatch = [
    "' OR '1'='1",
    "'; DROP TABLE hookinbox_events; --",
    '" OR ""="',
    '%',
    '_',
    '*',
    'evt_admin_ok%',
    '\\',
    '\u0000',
    `evt_admin_ok_${RUN}\u0000`,
    '😀',
    '\u202egnp.exe',
    'e\u0301vt',
    '\u{10FFFF}',
    'x'.repeat(255),
  ]

  it.each(noMatch)('q=%j finds nothing and answers 200', async (q) => {
    const reply = await get(`/admin/api/events?q=${enc(q)}`)
    checkSafe(reply, [200])
    expect(JSON.parse(reply.text)).toEqual({ events: [], nextCursor: null })
  })

  it.each(noMatch)('type=%j finds nothing and answers 200', async (type) => {
    const reply = await get(`/admin/api/events?type=${enc(type)}`)
    checkSafe(reply, [200])
    expect(JSON.parse(reply.text).events).toEqual([])
  })

  it('a real prefix still finds exactly its events (the filter is a prefix, not a pattern)', async () => {
    const reply = await get(`/admin/api/events?q=${enc(`evt_admin_ok_${RUN}_`)}`)
    checkSafe(reply, [200])
    expect(
      JSON.parse(reply.text)
        .events.map((e: { eventId: string }) => e.eventId)
        .sort(),
    ).toEqual(OK_IDS)
  })

  it.each([
    ['q', 'x'.repeat(256)],
    ['type', 'x'.repeat(256)],
    ['q', 'x'.repeat(12_000)],
    ['provider', 'STRIPE'],
    ['provider', "stripe' OR 1=1 --"],
    ['provider', '__proto__'],
    ['status', 'processed; DROP TABLE hookinbox_events'],
    ['status', 'constructor'],
    ['since', "2024-01-01' OR 1=1"],
    ['since', '2024-13-45'],
    ['since', '+275760-09-13T00:00:00.000Z'],
    ['since', '1e999'],
    ['until', 'tomorrow'],
    ['until', `2024-01-01T${'0'.repeat(40)}`],
    ['limit', '-1'],
    ['limit', '0'],
    ['limit', '501'],
    ['limit', '1e3'],
    ['limit', '10; DROP TABLE hookinbox_events'],
    ['limit', '99999999999999999999'],
    ['limit', ' 10'],
    ['__proto__[polluted]', 'yes'],
    ['constructor', 'x'],
    ['toString', 'x'],
    ['hasOwnProperty', 'x'],
    ['q\u0000', 'x'],
  ])('%s=%j is a 400 naming the problem', async (name, value) => {
    const reply = await get(`/admin/api/events?${enc(name)}=${enc(value)}`)
    checkSafe(reply, [400])
    expect(JSON.parse(reply.text).error).toMatch(/parameter/)
  })

  it.each([
    ['repeated parameters', `q=${enc("' OR 1=1")}&q=x`],
    ['a bare __proto__ parameter', '__proto__=x'],
    ['malformed percent-encoding', 'q=%E0%A4%A'],
    ['an encoded lone surrogate', 'q=%ED%A0%80'],
    ['a raw percent sign', 'q=100%'],
    ['a NUL byte in type', 'type=a%00b'],
    ['an empty value', 'q=&type=&status='],
    ['a plus sign', 'q=a+b'],
  ])('%s: 200 with nothing, or 400, never a 500', async (_, query) => {
    const reply = await get(`/admin/api/events?${query}`)
    checkSafe(reply, [200, 400])
    if (reply.status === 200) {
      for (const e of JSON.parse(reply.text).events as Array<{ eventId: string }>) {
        expect([...OK_IDS, FAILED_ID]).toContain(e.eventId)
      }
    }
  })

  it('a query string over Node`s 16 KB header limit is refused by Node (431) before the app', async () => {
    const reply = await get(`/admin/api/events?q=${'x'.repeat(20_000)}`)
    expect(reply.status).toBe(431)
  })

  it.each([
    ['garbage', '!!!'],
    ['too long', 'A'.repeat(41)],
    ['base64 with padding', `${Buffer.from('v1:1').toString('base64')}=`],
    ['standard base64 alphabet', '+/+/'],
    ['another version', Buffer.from('v2:10').toString('base64url')],
    ['a negative position', Buffer.from('v1:-1').toString('base64url')],
    ['not a number', Buffer.from('v1:abc').toString('base64url')],
    ['a 16-digit position', Buffer.from('v1:9999999999999999').toString('base64url')],
    ['SQL in the cursor', Buffer.from('v1:1 OR 1=1').toString('base64url')],
    ['a NUL', Buffer.from('v1:1\u00002').toString('base64url')],
    ['unicode', '😀'],
  ])('a bad cursor (%s) is a 400', async (_, cursor) => {
    const reply = await get(`/admin/api/events?cursor=${enc(cursor)}`)
    checkSafe(reply, [400])
    expect(JSON.parse(reply.text).error).toBe('invalid parameter "cursor"')
  })

  it('a well-formed cursor past every event gives an empty page', async () => {
    const reply = await get(`/admin/api/events?cursor=${Buffer.from('v1:1').toString('base64url')}`)
    checkSafe(reply, [200])
    expect(JSON.parse(reply.text)).toEqual({ events: [], nextCursor: null })
  })
})

describe('admin detail and replay with weird ids', () => {
  const weirdIds = [
    '%00',
    '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '..',
    enc("' OR '1'='1"),
    enc(`${OK_IDS[0]}' --`),
    enc(`${OK_IDS[0]}\u0000`),
    enc('😀'),
    '%ZZ',
    '%ED%A0%80',
    'x'.repeat(10_000),
    enc('<script>alert(1)</script>'),
  ]

  it.each(weirdIds)('GET /admin/api/events/stripe/%s is a 404', async (id) => {
    checkSafe(await get(`/admin/api/events/stripe/${id}`), [404])
  })

  it.each(weirdIds)('POST /admin/api/events/stripe/%s/replay is a 404', async (id) => {
    checkSafe(await post(`/admin/api/events/stripe/${id}/replay`), [404])
  })

  it.each(['__proto__', 'constructor', 'STRIPE', '%00', enc("stripe' --"), 'toString'])(
    'provider %s is a 404 on detail and replay',
    async (provider) => {
      checkSafe(await get(`/admin/api/events/${provider}/${OK_IDS[0]}`), [404])
      checkSafe(await post(`/admin/api/events/${provider}/${OK_IDS[0]}/replay`), [404])
    },
  )

  it('a processed event does not replay (409); the failed one does, and stays unsettled', async () => {
    checkSafe(await post(`/admin/api/events/stripe/${OK_IDS[0]}/replay`), [409])
    const reply = await post(`/admin/api/events/stripe/${FAILED_ID}/replay`)
    checkSafe(reply, [200])
    expect(JSON.parse(reply.text)).toMatchObject({ eventId: FAILED_ID, status: 'failed', attempts: 2 })
  })

  it('the admin page escapes a hostile id and a hostile filter', async () => {
    const page = await get(`/admin/events/stripe/${enc('<script>alert(1)</script>')}`)
    checkSafe(page, [404])
    expect(page.text).not.toContain('<script>alert(1)</script>')
    const list = await get(`/admin?q=${enc('"><script>alert(1)</script>')}`)
    checkSafe(list, [200])
    expect(list.text).not.toContain('<script>alert(1)</script>')
    checkSafe(await get('/admin?limit=abc'), [400])
    checkSafe(await get(`/admin?cursor=${enc('😀')}`), [400])
  })
})

describe('bulk replay with hostile bodies', () => {
  it.each([
    ['not JSON', '{"dryRun": tru'],
    ['an array', '[]'],
    ['a string', '"replay everything"'],
    ['dryRun as a string', '{"dryRun":"yes"}'],
    ['a settled status', '{"status":"processed"}'],
    ['SQL in the status', `{"status":"failed' OR 1=1 --"}`],
    ['a misspelt filter key (would otherwise widen the replay to everything)', '{"stauts":"failed"}'],
    ['an own __proto__ key', '{"__proto__":{"dryRun":true},"dryRun":true}'],
    ['a constructor key', '{"constructor":{"prototype":{"polluted":"yes"}},"dryRun":true}'],
    ['a provider that is not one', '{"provider":"__proto__","dryRun":true}'],
    ['a number as type', '{"type":1,"dryRun":true}'],
    ['an object as q', '{"q":{"$gt":""},"dryRun":true}'],
    ['an oversized q', `{"q":"${'x'.repeat(300)}","dryRun":true}`],
    // 60 KB: under the body limit (64 KB), so it is the nesting that is refused.
    ['deeply nested JSON', `${'['.repeat(30_000)}${']'.repeat(30_000)}`],
  ])('%s is a 400', async (_, body) => {
    const reply = await post('/admin/api/replay', body)
    checkSafe(reply, [400])
  })

  it.each([
    ['SQL in q', `{"q":"' OR 1=1 --","dryRun":true}`],
    ['a NUL in type', '{"type":"hostile.fail\\u0000","dryRun":true}'],
    ['unicode in q', '{"q":"😀","dryRun":true}'],
  ])('%s matches nothing (dry run)', async (_, body) => {
    const reply = await post('/admin/api/replay', body)
    checkSafe(reply, [200])
    expect(JSON.parse(reply.text)).toEqual({ dryRun: true, matched: 0, events: [] })
  })

  it('an unfiltered dry run lists exactly the failed event', async () => {
    const reply = await post('/admin/api/replay', '{"dryRun":true}')
    checkSafe(reply, [200])
    expect(JSON.parse(reply.text)).toMatchObject({
      dryRun: true,
      matched: 1,
      events: [{ eventId: FAILED_ID }],
    })
  })
})

describe('admin credentials', () => {
  const wrong: Array<[string, Array<[string, string]>]> = [
    ['no header', []],
    ['an empty bearer', [['Authorization', 'Bearer ']]],
    ['a prefix of the token', [['Authorization', `Bearer ${ADMIN_TOKEN.slice(0, -1)}`]]],
    ['the token plus a character', [['Authorization', `Bearer ${ADMIN_TOKEN}x`]]],
    ['the token in upper case', [['Authorization', `Bearer ${ADMIN_TOKEN.toUpperCase()}`]]],
    ['a 10 KB token', [['Authorization', `Bearer ${'t'.repeat(10_000)}`]]],
    ['Basic without a colon', [['Authorization', `Basic ${Buffer.from(ADMIN_TOKEN).toString('base64')}`]]],
    [
      'Basic with the token as user name',
      [['Authorization', `Basic ${Buffer.from(`${ADMIN_TOKEN}:`).toString('base64')}`]],
    ],
    ['Basic with junk', [['Authorization', 'Basic %%%']]],
    ['another scheme', [['Authorization', `Token ${ADMIN_TOKEN}`]]],
    ['the token in a query parameter', []],
  ]

  it.each(wrong)(
    '%s: 401 on every admin route, and the answer never holds the token',
    async (name, headers) => {
      const query = name === 'the token in a query parameter' ? `?token=${ADMIN_TOKEN}` : ''
      for (const reply of [
        await get(`/admin/api/events${query}`, headers),
        await get(`/admin/api/stats${query}`, headers),
        await get(`/admin${query}`, headers),
        await post(`/admin/api/events/stripe/${FAILED_ID}/replay${query}`, '', headers),
        await post(`/admin/api/replay${query}`, '{}', headers),
      ]) {
        checkSafe(reply, [401])
        expect(reply.text).not.toContain(ADMIN_TOKEN)
      }
    },
  )

  it('the right token in either form works', async () => {
    checkSafe(await get('/admin/api/stats'), [200])
    const basic = `Basic ${Buffer.from(`anyone:${ADMIN_TOKEN}`).toString('base64')}`
    checkSafe(await get('/admin/api/stats', [['Authorization', basic]]), [200])
  })
})

describe('cross-site requests to the JSON API (CSRF)', () => {
  // A browser that opened /admin keeps the Basic credentials and sends them with any request to this
  // origin, including a form post or a no-cors fetch from another site. Such a request carries an Origin
  // (and Sec-Fetch-Site) header naming the other site; curl and scripts send neither.
  const browserBasic = `Basic ${Buffer.from(`operator:${ADMIN_TOKEN}`).toString('base64')}`
  const crossSite = (contentType: string): Array<[string, string]> => [
    ['Authorization', browserBasic],
    ['Origin', 'https://evil.example'],
    ['Sec-Fetch-Site', 'cross-site'],
    ['Content-Type', contentType],
  ]

  it('a cross-site form post to the per-event replay API is refused', async () => {
    const reply = await send(env.svc.url, {
      path: `/admin/api/events/stripe/${FAILED_ID}/replay`,
      headers: [...crossSite('application/x-www-form-urlencoded'), ['Content-Length', '0']],
    })
    checkSafe(reply, [403])
  })

  it('a cross-site text/plain post to the bulk replay API is refused', async () => {
    const body = Buffer.from('{"dryRun":false}')
    const reply = await send(env.svc.url, {
      path: '/admin/api/replay',
      headers: [...crossSite('text/plain'), ['Content-Length', String(body.length)]],
      body,
    })
    checkSafe(reply, [403])
  })

  it('a script without Origin (curl, as in the README) still replays', async () => {
    checkSafe(await post('/admin/api/replay', '{"dryRun":true}'), [200])
  })
})

describe('afterwards', () => {
  it('the tables are intact, nothing was added by a filter, and no prototype was polluted', async () => {
    expect(eventCount(env.svc)).toBe(eventsAtStart)
    expect(prototypeSnapshot()).toEqual(prototypeBefore)
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    checkSafe(await get('/healthz', []), [200])
  })
})
