import { joinWindow } from '../domain/bookings.ts';
import type { Actor } from '../domain/types.ts';
import { AppError } from '../errors.ts';
import type { Booking, LiveParticipant } from '../store/bookings.ts';
import { type Lifecycle, times } from './bookings/lifecycle.ts';
import type { NodeLiveness } from './liveness.ts';

/**
 * Who is in a live session: admission through the booking's rules, arrivals
 * and departures, and the lifecycle steps they make (the session starts when
 * both parties are present; the provider ends it).
 */
export class Attendance {
  readonly #lc: Lifecycle;
  readonly #liveness: NodeLiveness | undefined;
  /**
   * `liveness`: which nodes are alive; a participant is present only while the
   * node their socket is on is. Without it, the stored flags are taken as they are.
   */
  constructor(lc: Lifecycle, liveness?: NodeLiveness) {
    this.#lc = lc;
    this.#liveness = liveness;
  }

  /** A booking a participant has joined (or is about to): its row as it is now. */
  booking(actor: Actor, bookingId: string): Promise<Booking> {
    return this.#lc.read(actor, bookingId);
  }

  /**
   * Who may join a live session now: its client or provider, inside the join
   * window, while it is confirmed or in progress.
   */
  async admit(actor: Actor, ref: { bookingId: string } | { joinToken: string }): Promise<Booking> {
    const { joinTokens, policy, clock } = this.#lc.d;
    const now = clock.now();
    let bookingId: string;
    if ('joinToken' in ref) {
      const grant = joinTokens.verify(ref.joinToken, now);
      if (grant.userId !== actor.id)
        throw new AppError('forbidden', 'this join link is for the other participant');
      bookingId = grant.bookingId;
    } else {
      bookingId = ref.bookingId;
    }
    const b = await this.#lc.read(actor, bookingId);
    if (b.modality === 'messaging')
      throw new AppError('modality_mismatch', 'a messaging session has no live part');
    const w = joinWindow(times(b), policy);
    if (now < w.opensAt || now > w.closesAt) {
      throw new AppError(
        'join_window_closed',
        `the session can be joined from ${w.opensAt.toISOString()} to ${w.closesAt.toISOString()}`,
      );
    }
    if (b.status !== 'confirmed' && b.status !== 'in_progress')
      throw new AppError('conflict', `booking is ${b.status}`);
    return b;
  }

  /**
   * Records a participant arriving or leaving. The session starts at the
   * moment the second party is present, never before, and only once: the
   * lifecycle's `start` consumes the credit and tells the room.
   */
  async presence(b: Booking, userId: string, present: boolean) {
    const now = this.#lc.d.clock.now();
    return this.#lc.d.uow.run(async (t) => {
      await t.bookings.lockUsers([b.clientId, b.providerId]);
      const role = userId === b.providerId ? 'provider' : 'client';
      await t.live.mark(b.id, userId, role, present, now, this.#liveness?.nodeId ?? null);
      const participants = await this.#presentNow(await t.live.list(b.id));
      let booking = (await t.bookings.get(b.id))!;
      let started = false;
      const bothHere = participants.filter((p) => p.present).length === 2;
      if (present && bothHere && booking.status === 'confirmed') {
        booking = await this.#lc.apply(t, booking, 'start', now, { set: { startedAt: now } });
        started = true;
      }
      return { booking, participants, started };
    });
  }

  /** The provider ends the session: completed. */
  async end(actor: Actor, bookingId: string): Promise<Booking> {
    const now = this.#lc.d.clock.now();
    return this.#lc.d.uow.run(async (t) => {
      const b = await this.#lc.loadForChange(t, actor, bookingId);
      if (actor.id !== b.providerId) throw new AppError('forbidden', 'only the provider ends the session');
      return this.#lc.apply(t, b, 'end', now, { set: { endedAt: now, outcome: 'completed' } });
    });
  }

  /**
   * Present now: flagged present through a node that is still alive. A node
   * that died (no clean stop) never cleared its participants' flags; those
   * participants are not here until they join again through a live node.
   */
  async #presentNow(participants: LiveParticipant[]): Promise<LiveParticipant[]> {
    const liveness = this.#liveness;
    if (!liveness) return participants;
    const nodes = participants.filter((p) => p.present && p.nodeId !== null).map((p) => p.nodeId!);
    const alive = nodes.length ? await liveness.alive(nodes) : new Set<string>();
    return participants.map((p) =>
      p.present && p.nodeId !== null && !alive.has(p.nodeId) ? { ...p, present: false } : p,
    );
  }
}
