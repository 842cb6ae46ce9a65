import type express from 'express';
import {
  BookingsQuery,
  CancelBody,
  CreateBookingBody,
  CreditsQuery,
  EmptyBody,
  PurchaseBody,
  RescheduleBody,
  SlotsQuery,
} from '../../protocol/inputs.ts';
import type { AddressLimiter } from '../auth/address-limiter.ts';
import { AppError } from '../errors.ts';
import type { InFlight } from '../inflight.ts';
import { parse } from '../parse.ts';
import type { BookingService } from '../services/bookings.ts';
import type { CreditService } from '../services/credits.ts';
import type { JoinAccess } from '../services/join-access.ts';
import type { JoinLinks } from '../services/join-links.ts';
import { actor, areaRoutes, param } from './route-kit.ts';

export interface BookingRouteDeps {
  inflight: InFlight;
  addresses: AddressLimiter;
  bookings: BookingService;
  credits: CreditService;
  joinAccess: JoinAccess;
  joinLinks: JoinLinks;
}

/** Bookings, credits, the plan and join links. Mounted on /v1 behind authentication (a join link's lookup needs none). */
export function bookingRoutes(d: BookingRouteDeps): express.Router {
  const { router: v1, tracked, answer } = areaRoutes(d.inflight);

  v1.get(
    '/providers/:id/slots',
    answer((req) => {
      const q = parse(SlotsQuery, req.query, 'query');
      return d.bookings.slots(param(req, 'id'), q);
    }),
  );
  v1.post(
    '/bookings',
    answer(
      async (req) => ({ booking: await d.bookings.create(actor(req), parse(CreateBookingBody, req.body)) }),
      201,
    ),
  );
  v1.get(
    '/bookings',
    answer((req) => d.bookings.list(actor(req), parse(BookingsQuery, req.query, 'query'))),
  );
  v1.get(
    '/bookings/:id',
    answer(async (req) => ({ booking: await d.bookings.get(actor(req), param(req, 'id')) })),
  );
  // The provider's answers to a request, and a late charge waived: no body, the booking as it is now.
  for (const change of ['confirm', 'decline', 'waive'] as const) {
    v1.post(
      `/bookings/:id/${change}`,
      answer(async (req) => {
        parse(EmptyBody, req.body ?? {});
        return { booking: await d.bookings[change](actor(req), param(req, 'id')) };
      }),
    );
  }
  v1.post(
    '/bookings/:id/cancel',
    answer(async (req) => {
      const { reason } = parse(CancelBody, req.body ?? {});
      return { booking: await d.bookings.cancel(actor(req), param(req, 'id'), reason) };
    }),
  );
  v1.post(
    '/bookings/:id/reschedule',
    answer(
      async (req) => ({
        booking: await d.bookings.reschedule(actor(req), param(req, 'id'), parse(RescheduleBody, req.body)),
      }),
      201,
    ),
  );
  // A client's own plan (PROTOCOL.md, "Fair bookings").
  v1.get(
    '/plan',
    answer((req) => d.credits.plan(actor(req))),
  );
  v1.get(
    '/credits',
    answer((req) => d.credits.balance(actor(req), parse(CreditsQuery, req.query, 'query'))),
  );
  v1.post(
    '/credits/purchase',
    answer((req) => {
      const { count, paymentRef } = parse(PurchaseBody, req.body);
      return d.credits.purchase(actor(req), count, paymentRef);
    }, 201),
  );
  // What a join link grants its participant (the web client reads this before live:join).
  v1.get(
    '/join/:token',
    tracked(async (req, res) => {
      const token = req.params.token;
      if (typeof token !== 'string' || token.length > 4096)
        throw new AppError('invalid_input', 'token: malformed');
      try {
        res.json(await d.joinAccess.info(token, req.identity));
      } catch (e) {
        // A forged link counts against its address, like a forged token.
        if (e instanceof AppError && e.code === 'unauthenticated')
          await d.addresses.failed(req.socket.remoteAddress ?? 'unknown');
        throw e;
      }
    }),
  );

  // Join links for a reminder bot of the platform's own (or the platform's backend).
  v1.get(
    '/bookings/:id/join-links',
    answer((req) => d.joinLinks.forBooking(actor(req), param(req, 'id'))),
  );

  return v1;
}
