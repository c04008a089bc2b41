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

/** An ISO date and time without a zone designator (`Z` or `±hh:mm`), which `new Date` would read as local. */
const ZONELESS_DATE_TIME = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)$/

/**
 * A provider's event time given as text (PayPal's `create_time`, Adyen's `eventDate`). The providers send a
 * zone; one without is read as UTC, not in the server's zone: the same event must get the same time on every
 * instance, whatever its `TZ`.
 */
export function providerTime(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined
  const zoneless = ZONELESS_DATE_TIME.exec(value)
  return eventTime(new Date(zoneless ? `${zoneless[1]}T${zoneless[2]}Z` : value))
}
