import type { Booking } from '../../protocol/answers.ts';
import type { JoinGrant, JoinTokens } from '../auth/join-tokens.ts';
import type { Identity } from '../auth/tokens.ts';
import type { Clock } from '../clock.ts';
import type { Actor } from '../domain/types.ts';
import { AppError } from '../errors.ts';
import { BookingStore } from '../store/bookings.ts';
import type { Db } from '../store/db.ts';
import { UsersRepo } from '../store/users.ts';

/** Statuses in which a link still leads to its session (a pending one opens once confirmed). */
const OPENS = new Set(['pending_confirmation', 'confirmed', 'in_progress']);
/** Statuses in which a link may sign a socket in: the session can be joined. */
const JOINABLE = new Set(['confirmed', 'in_progress']);

export interface JoinParty {
  userId: string;
  role: 'client' | 'provider';
  displayName: string;
}

/** A socket signed in with a join link: that participant, for that booking only. */
export interface JoinSignIn {
  identity: Identity;
  bookingId: string;
}

/**
 * A join link is a credential of its own (PROTOCOL.md, "Join links are
 * enough"): it names one participant of one booking, and works while that
 * booking can still be joined. This is everything a link alone may open.
 */
export class JoinAccess {
  readonly #d: { db: Db; joinTokens: JoinTokens; clock: Clock };
  constructor(d: { db: Db; joinTokens: JoinTokens; clock: Clock }) {
    this.#d = d;
  }

  /**
   * What the link grants, for the page it opens: the booking, its window (the
   * page says when a link that is not open yet opens), who the viewer is and
   * who the other party is. A platform token sent beside it must be the same
   * participant's.
   */
  async info(token: string, viewer?: Actor) {
    const now = this.#d.clock.now();
    const grant = this.#d.joinTokens.read(token, now);
    if (viewer && viewer.id !== grant.userId)
      throw new AppError('forbidden', 'this join link is for the other participant');
    const booking = await this.#booking(grant, OPENS);
    const [participant, other] = await this.#parties(booking, grant.userId);
    return {
      booking,
      opensAt: grant.opensAt.toISOString(),
      closesAt: grant.closesAt.toISOString(),
      open: now >= grant.opensAt,
      participant,
      other,
    };
  }

  /** Signs a socket in with a link whose window is open and whose session can be joined. */
  async signIn(token: string): Promise<JoinSignIn> {
    const grant = this.#d.joinTokens.verify(token, this.#d.clock.now());
    const booking = await this.#booking(grant, JOINABLE);
    const [me] = await this.#parties(booking, grant.userId);
    return {
      identity: { id: me.userId, role: me.role, expiresAt: grant.closesAt.getTime() },
      bookingId: booking.id,
    };
  }

  async #booking(grant: JoinGrant, allowed: Set<string>): Promise<Booking> {
    const b = await new BookingStore(this.#d.db).get(grant.bookingId);
    if (!b) throw new AppError('not_found', 'the session of this join link no longer exists');
    if (b.modality === 'messaging')
      throw new AppError('modality_mismatch', 'a messaging session has no live part');
    if (!allowed.has(b.status))
      throw new AppError('conflict', `the booking is ${b.status}: this join link no longer opens it`);
    return b;
  }

  /** The link's participant first, then the other party, with the names a person reads. */
  async #parties(b: Booking, userId: string): Promise<[JoinParty, JoinParty]> {
    const users = await new UsersRepo(this.#d.db).getMany([b.clientId, b.providerId]);
    const party = (id: string, role: JoinParty['role']): JoinParty => ({
      userId: id,
      role,
      displayName: users.get(id)?.displayName ?? '',
    });
    const client = party(b.clientId, 'client');
    const provider = party(b.providerId, 'provider');
    if (userId === b.clientId) return [client, provider];
    if (userId === b.providerId) return [provider, client];
    throw new AppError('forbidden', 'this join link is not for a participant of its booking');
  }
}
