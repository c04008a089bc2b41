// test/handlers/checkout-completed.test.ts: the example handler, tested through the real service
import { afterAll, beforeAll, expect, it } from 'vitest'
import { type Harness, startHarness } from '../../src/testing.ts'

let harness: Harness
beforeAll(async () => {
  harness = await startHarness() // ./handlers, a fresh database, secrets made for this run
})
afterAll(() => harness?.close())

it('records a paid session once, however often Stripe delivers it', async () => {
  const event = harness.fixture('stripe', 'checkout.session.completed')
  event.data.object.amount_total = 4200

  expect(await harness.deliver('stripe', event)).toMatchObject({ status: 200, body: { status: 'processed' } })
  expect(await harness.deliver('stripe', event)).toMatchObject({ status: 200, body: { duplicate: true } })

  const rows = harness.query(
    'SELECT amount_total FROM paid_checkouts WHERE session_id = ?',
    event.data.object.id,
  )
  expect(rows).toEqual([{ amount_total: 4200 }])
})

it('waits for the money when the session completes unpaid (a delayed payment method)', async () => {
  const completed = harness.fixture('stripe', 'checkout.session.completed')
  completed.data.object.payment_status = 'unpaid'
  await harness.deliver('stripe', completed)
  const sessionId = completed.data.object.id
  expect(harness.query('SELECT * FROM paid_checkouts WHERE session_id = ?', sessionId)).toEqual([])

  // Days later, another event (a new id) about the same session.
  const paid = harness.fixture('stripe', 'checkout.session.completed')
  paid.type = 'checkout.session.async_payment_succeeded'
  paid.data.object = { ...completed.data.object, payment_status: 'paid' }
  expect(await harness.deliver('stripe', paid)).toMatchObject({ body: { status: 'processed' } })
  expect(harness.query('SELECT * FROM paid_checkouts WHERE session_id = ?', sessionId)).toHaveLength(1)
})
