/**
 * Type-level check, by `tsc --noEmit`, that what the services answer — which
 * src/http/app.ts hands to `res.json` as it is — has the shape the contract's
 * REST answers (and so /v1/openapi.json) promise. A service whose answer
 * drifts from the contract fails here.
 */
import type { z } from 'zod';
import type * as A from '../../protocol/answers.ts';
import type { JoinInfo } from '../../protocol/rest.ts';
import type { BookingService } from '../../src/services/bookings.ts';
import type { CreditService } from '../../src/services/credits.ts';
import type { FailedJobs } from '../../src/services/failed-jobs.ts';
import type { JoinAccess } from '../../src/services/join-access.ts';
import type { JoinLinks } from '../../src/services/join-links.ts';
import type { MessageService } from '../../src/services/messages.ts';
import type { ProvisioningService } from '../../src/services/provisioning.ts';
import type { RoomService } from '../../src/services/rooms.ts';

type Answer<F extends (...args: never[]) => unknown> = Awaited<ReturnType<F>>;
/** Compiles only when the service's answer is assignable to the contract's. */
function conforms<Contract>(_: Contract): void {}

declare const rooms: RoomService;
declare const messages: MessageService;
declare const bookings: BookingService;
declare const credits: CreditService;
declare const provisioning: ProvisioningService;
declare const joinLinks: JoinLinks;
declare const joinAccess: JoinAccess;
declare const failedJobs: FailedJobs;

conforms<z.output<typeof A.RoomsPage>>(null! as Answer<typeof rooms.page>);
conforms<z.output<typeof A.RoomView>>(null! as Answer<typeof rooms.get>);
conforms<z.output<typeof A.RoomView>>(null! as Answer<typeof rooms.escalate>);
conforms<z.output<typeof A.HistoryAnswer>>(null! as Answer<typeof messages.history>);
conforms<z.output<typeof A.Message>>(null! as Answer<typeof messages.send>);
conforms<z.output<typeof A.Booking>>(null! as Answer<typeof bookings.create>);
conforms<z.output<typeof A.Booking>>(null! as Answer<typeof bookings.get>);
conforms<z.output<typeof A.BookingsPage>>(null! as Answer<typeof bookings.list>);
conforms<z.output<typeof A.SlotsPage>>(null! as Answer<typeof bookings.slots>);
conforms<z.output<typeof JoinInfo>>(null! as Answer<typeof joinAccess.info>);
conforms<z.output<typeof A.Credits>>(null! as Answer<typeof credits.balance>);
conforms<z.output<typeof A.Credits> & { creditIds: string[] }>(null! as Answer<typeof credits.purchase>);
conforms<z.output<typeof A.User>>((null! as Answer<typeof provisioning.putUser>).user);
conforms<z.output<typeof A.Plan>>(null! as Answer<typeof provisioning.putPlan>);
conforms<{ joinUrls: Record<string, string>; opensAt: string; closesAt: string }>(
  null! as Answer<typeof joinLinks.forBooking>,
);
conforms<{ hasMore: boolean }>(null! as Answer<typeof failedJobs.list>);
// @ts-expect-error a room is no booking: the check refuses an answer of the wrong shape
conforms<z.output<typeof A.Booking>>(null! as Answer<typeof rooms.get>);
