/** A verified PayPal delivery as an event: PayPal's own `id` (`WH-…`) is the idempotency key. */
import { AppError } from '../../errors.ts'
import { isEventKey } from '../event-key.ts'
import type { VerifiedEvent } from '../provider.ts'

const MAX_ID_LENGTH = 255

/** `text` is the verified body exactly as received, handed on so the inbox need not re-serialise it. */
export function paypalEvent(body: Record<string, unknown>, text: string): VerifiedEvent {
  const { id, event_type: type, create_time: createTime } = body
  if (!isEventKey(id, MAX_ID_LENGTH)) {
    throw new AppError('invalid_event', 'PayPal event has no usable id', { reason: 'missing_event_id' })
  }
  if (!isEventKey(type, Number.POSITIVE_INFINITY)) {
    throw new AppError('invalid_event', 'PayPal event has no usable event_type', {
      reason: 'missing_event_type',
    })
  }
  const occurred = typeof createTime === 'string' ? new Date(createTime) : undefined
  return {
    provider: 'paypal',
    id,
    type,
    payload: body,
    payloadJson: text,
    ...(occurred && !Number.isNaN(occurred.getTime()) ? { occurredAt: occurred } : {}),
  }
}
