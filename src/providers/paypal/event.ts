/** A verified PayPal delivery as an event: PayPal's own `id` (`WH-…`) is the idempotency key. */
import { AppError } from '../../errors.ts'
import { isEventKey, MAX_EVENT_ID_LENGTH, MAX_EVENT_TYPE_LENGTH } from '../event-key.ts'
import { providerTime } from '../event-time.ts'
import type { VerifiedEvent } from '../provider.ts'

/** `text` is the verified body exactly as received, handed on so the inbox need not re-serialise it. */
export function paypalEvent(body: Record<string, unknown>, text: string): VerifiedEvent {
  const { id, event_type: type, create_time: createTime } = body
  if (!isEventKey(id, MAX_EVENT_ID_LENGTH)) {
    throw new AppError('invalid_event', 'PayPal event has no usable id', { reason: 'missing_event_id' })
  }
  if (!isEventKey(type, MAX_EVENT_TYPE_LENGTH)) {
    throw new AppError('invalid_event', 'PayPal event has no usable event_type', {
      reason: 'missing_event_type',
    })
  }
  const occurredAt = providerTime(createTime)
  return {
    provider: 'paypal',
    id,
    type,
    payload: body,
    payloadJson: text,
    ...(occurredAt ? { occurredAt } : {}),
  }
}
