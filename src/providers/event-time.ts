/**
 * The provider's own time of an event (`occurredAt`), as both stores keep it. PostgreSQL takes the ISO text
 * Drizzle writes only for years 1 to 9999 (it refuses year 0 and signed years such as `+275760`), and the
 * insert then failed at every retry (503). A time outside is left out, as one that does not parse already
 * is: it is information only, and the event is recorded all the same.
 */
export const EARLIEST = Date.parse('0001-01-01T00:00:00.000Z')
export const LATEST = Date.parse('9999-12-31T23:59:59.999Z')

export function eventTime(time: Date | undefined): Date | undefined {
  const ms = time?.getTime()
  return ms !== undefined && ms >= EARLIEST && ms <= LATEST ? time : undefined
}
