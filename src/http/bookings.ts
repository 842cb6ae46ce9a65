import express from 'express';
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
import { actor, param, tracker } from './route-kit.ts';

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
  const v1 = express.Router();
  const tracked = tracker(d.inflight);

  v1.get(
    '/providers/:id/slots',
    tracked(async (req, res) => {
      const q = parse(SlotsQuery, req.query, 'query');
      res.json(await d.bookings.slots(param(req, 'id'), q));
    }),
  );
  v1.post(
    '/bookings',
    tracked(async (req, res) => {
      res
        .status(201)
        .json({ booking: await d.bookings.create(actor(req), parse(CreateBookingBody, req.body)) });
    }),
  );
  v1.get(
    '/bookings',
    tracked(async (req, res) => {
      res.json(await d.bookings.list(actor(req), parse(BookingsQuery, req.query, 'query')));
    }),
  );
  v1.get(
    '/bookings/:id',
    tracked(async (req, res) => {
      res.json({ booking: await d.bookings.get(actor(req), param(req, 'id')) });
    }),
  );
  v1.post(
    '/bookings/:id/confirm',
    tracked(async (req, res) => {
      parse(EmptyBody, req.body ?? {});
      res.json({ booking: await d.bookings.confirm(actor(req), param(req, 'id')) });
    }),
  );
  v1.post(
    '/bookings/:id/decline',
    tracked(async (req, res) => {
      parse(EmptyBody, req.body ?? {});
      res.json({ booking: await d.bookings.decline(actor(req), param(req, 'id')) });
    }),
  );
  v1.post(
    '/bookings/:id/waive',
    tracked(async (req, res) => {
      parse(EmptyBody, req.body ?? {});
      res.json({ booking: await d.bookings.waive(actor(req), param(req, 'id')) });
    }),
  );
  v1.post(
    '/bookings/:id/cancel',
    tracked(async (req, res) => {
      const { reason } = parse(CancelBody, req.body ?? {});
      res.json({ booking: await d.bookings.cancel(actor(req), param(req, 'id'), reason) });
    }),
  );
  v1.post(
    '/bookings/:id/reschedule',
    tracked(async (req, res) => {
      res.status(201).json({
        booking: await d.bookings.reschedule(actor(req), param(req, 'id'), parse(RescheduleBody, req.body)),
      });
    }),
  );
  // A client's own plan (PROTOCOL.md, "Fair bookings").
  v1.get(
    '/plan',
    tracked(async (req, res) => {
      res.json(await d.credits.plan(actor(req)));
    }),
  );
  v1.get(
    '/credits',
    tracked(async (req, res) => {
      res.json(await d.credits.balance(actor(req), parse(CreditsQuery, req.query, 'query')));
    }),
  );
  v1.post(
    '/credits/purchase',
    tracked(async (req, res) => {
      const { count, paymentRef } = parse(PurchaseBody, req.body);
      res.status(201).json(await d.credits.purchase(actor(req), count, paymentRef));
    }),
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
    tracked(async (req, res) => {
      res.json(await d.joinLinks.forBooking(actor(req), param(req, 'id')));
    }),
  );

  return v1;
}
