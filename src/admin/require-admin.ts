/**
 * Access to /admin: `Authorization: Bearer <ADMIN_TOKEN>`, or HTTP Basic with the token as the password (so a
 * browser can open the page). With no ADMIN_TOKEN configured, /admin does not exist (404).
 */
import type { MiddlewareHandler } from 'hono'
import { AppError } from '../errors.ts'
import { constantTimeEqual } from './constant-time.ts'

const challenge = { 'WWW-Authenticate': 'Basic realm="hookinbox", charset="UTF-8"' }

function presentedToken(header: string | undefined): string | undefined {
  if (!header) return undefined
  // `credentials = auth-scheme 1*SP token68` (RFC 9110): any number of spaces after the scheme.
  const match = /^(\S+) +(.*)$/.exec(header)
  if (!match) return undefined
  const [, scheme = '', value = ''] = match
  if (scheme.toLowerCase() === 'bearer') return value.trim()
  if (scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value.trim(), 'base64').toString('utf8')
    const colon = decoded.indexOf(':')
    return colon === -1 ? undefined : decoded.slice(colon + 1)
  }
  return undefined
}

/** Requires the token (Bearer, or Basic with the token as password); `what` names it in the 401. */
export function requireToken(token: string, what: string): MiddlewareHandler {
  return async (c, next) => {
    const presented = presentedToken(c.req.header('authorization'))
    if (presented === undefined || !constantTimeEqual(presented, token)) {
      throw new AppError('unauthorized', `${what} access needs its token`, { headers: challenge })
    }
    await next()
  }
}

export function requireAdmin(token: string | undefined): MiddlewareHandler {
  if (token === undefined) {
    return async () => {
      throw new AppError('not_found', 'not found')
    }
  }
  return requireToken(token, 'admin')
}
