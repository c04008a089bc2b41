/**
 * Type tests: `defineHandler` types the payload from the events subscribed to, and a misspelt event name is
 * a compile error (checked by `tsc --noEmit`, which `npm test` runs; the @ts-expect-error lines fail the
 * type-check if the error they expect ever disappears).
 */
import type Stripe from 'stripe'
import { describe, expectTypeOf, it } from 'vitest'
import {
  type AdyenNotificationItem,
  defineHandler,
  type HandlerEvent,
  type PaypalEnvelope,
  type StripeThinEvent,
} from '../../src/handlers.ts'

describe('typed handlers', () => {
  it('narrows a Stripe payload to the stripe package’s type for the subscribed event', () => {
    defineHandler({
      provider: 'stripe',
      events: ['invoice.paid'],
      handle(event) {
        expectTypeOf(event.payload).toEqualTypeOf<Stripe.InvoicePaidEvent>()
        expectTypeOf(event.payload.data.object).toEqualTypeOf<Stripe.Invoice>()
      },
    })
  })

  it('gives a union when several Stripe events are subscribed, and every event, thin ones too, for "*"', () => {
    defineHandler({
      provider: 'stripe',
      events: ['charge.refunded', 'charge.succeeded'],
      handle(event) {
        expectTypeOf(event.payload).toEqualTypeOf<Stripe.ChargeRefundedEvent | Stripe.ChargeSucceededEvent>()
        expectTypeOf(event.payload.data.object).toEqualTypeOf<Stripe.Charge>()
      },
    })
    defineHandler({
      provider: 'stripe',
      events: '*',
      handle(event) {
        expectTypeOf(event.payload).toEqualTypeOf<Stripe.Event | StripeThinEvent>()
        // A thin event has no snapshot: `data` must be reached through the narrowing.
        // @ts-expect-error: not on every event of '*'
        event.payload.data
        if (event.payload.object === 'event') expectTypeOf(event.payload).toEqualTypeOf<Stripe.Event>()
      },
    })
  })

  it("types Stripe's thin events as delivered: a reference to the object, an ISO created, no fetch method", () => {
    defineHandler({
      provider: 'stripe',
      events: ['v1.checkout.session.completed', 'checkout.session.completed'],
      handle(event) {
        if (event.payload.object === 'v2.core.event') {
          expectTypeOf(event.payload.type).toEqualTypeOf<'v1.checkout.session.completed'>()
          expectTypeOf(event.payload.created).toEqualTypeOf<string>()
          expectTypeOf(event.payload.related_object.id).toEqualTypeOf<string>()
          // @ts-expect-error: only the stripe package's own client adds it
          event.payload.fetchRelatedObject()
        } else {
          expectTypeOf(event.payload).toEqualTypeOf<Stripe.CheckoutSessionCompletedEvent>()
        }
      },
    })
    defineHandler({
      provider: 'stripe',
      // @ts-expect-error: thin events of v1 objects are named with their v1. prefix
      events: ['v1.checkout.session.complete'],
      handle() {},
    })
  })

  it("knows Adyen's dispute event codes", () => {
    defineHandler({
      provider: 'adyen',
      events: [
        'NOTIFICATION_OF_CHARGEBACK',
        'DISPUTE_OPENED_WITH_CHARGEBACK',
        'ISSUER_RESPONSE_TIMEFRAME_EXPIRED',
      ],
      handle() {},
    })
  })

  it('types Adyen items and PayPal envelopes', () => {
    defineHandler({
      provider: 'adyen',
      events: ['AUTHORISATION', 'CAPTURE'],
      handle(event) {
        expectTypeOf(event.payload).toEqualTypeOf<AdyenNotificationItem<'AUTHORISATION' | 'CAPTURE'>>()
        expectTypeOf(event.payload.success).toEqualTypeOf<'true' | 'false'>()
      },
    })
    defineHandler({
      provider: 'paypal',
      events: ['PAYMENT.CAPTURE.COMPLETED'],
      handle(event) {
        expectTypeOf(event.payload).toEqualTypeOf<PaypalEnvelope<'PAYMENT.CAPTURE.COMPLETED'>>()
        expectTypeOf(event.payload.resource).toBeUnknown()
      },
    })
    defineHandler({
      provider: '*',
      events: '*',
      handle(event) {
        expectTypeOf(event).toEqualTypeOf<HandlerEvent<unknown>>()
      },
    })
  })

  it('rejects misspelt event names at compile time, on the events line, suggesting the name meant', () => {
    // The errors below land on `events` (with "Did you mean 'invoice.paid'?"), not on `provider`: each
    // expected error is marked right above the line it is expected on.
    defineHandler({
      provider: 'stripe',
      // @ts-expect-error: not a Stripe event type
      events: ['invoice.payed'],
      handle() {},
    })
    defineHandler({
      provider: 'adyen',
      // @ts-expect-error: not an Adyen event code
      events: ['AUTHORIZATION'],
      handle() {},
    })
    defineHandler({
      provider: 'paypal',
      // @ts-expect-error: not a PayPal event type
      events: ['PAYMENT.CAPTURE.COMPLETE'],
      handle() {},
    })
    defineHandler({
      provider: 'stripe',
      // @ts-expect-error: one misspelt name among good ones is enough
      events: ['invoice.paid', 'invoice.payed'],
      handle() {},
    })
    // @ts-expect-error: not a provider
    defineHandler({ provider: 'square', events: '*', handle() {} })
  })

  it('gives handlers the context: a transaction, a logger, isStale', () => {
    defineHandler({
      provider: 'stripe',
      events: ['customer.subscription.updated'],
      async handle(event, ctx) {
        expectTypeOf(ctx.isStale).toEqualTypeOf<(objectKey: string, occurredAt: Date) => Promise<boolean>>()
        expectTypeOf(ctx.dialect).toEqualTypeOf<'sqlite' | 'postgres'>()
        expectTypeOf(event.payload.data.object.status).toEqualTypeOf<Stripe.Subscription.Status>()
      },
    })
  })
})
