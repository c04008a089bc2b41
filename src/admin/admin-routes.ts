import { Hono } from 'hono'
import { AppError } from '../errors.ts'
import type { EventHistory } from './event-history.ts'
import { requireAdmin } from './require-admin.ts'

export interface AdminRouteDeps {
  adminToken: string | undefined
  history: EventHistory
}

export function adminRoutes(deps: AdminRouteDeps): Hono {
  const app = new Hono()
  app.use('/admin', requireAdmin(deps.adminToken))
  app.use('/admin/*', requireAdmin(deps.adminToken))

  app.get('/admin/api/events/:provider/:eventId', (c) => {
    const event = deps.history.getEvent(c.req.param('provider'), c.req.param('eventId'))
    if (!event) throw new AppError('not_found', 'no such event')
    return c.json(event)
  })
  return app
}
