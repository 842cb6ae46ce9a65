import { randomUUID } from 'node:crypto';
import type { ChargeStep, CreditMove } from '../domain/booking-lifecycle.ts';
import { type Policy, restoredExpiry } from '../domain/bookings.ts';
import { periodAt } from '../domain/periods.ts';
import type { Actor, Plan } from '../domain/types.ts';
import { AppError } from '../errors.ts';
import type { TypedJob } from '../jobs/kinds.ts';
import type { Booking, Charge } from '../store/bookings.ts';
import type { CreditType, LedgerEntry } from '../store/credits.ts';
import type { Tx, UnitOfWork } from './unit-of-work.ts';
import type { Webhooks } from './webhooks.ts';

export interface CreditDeps {
  uow: UnitOfWork;
  clock: { now(): Date };
  webhooks: Webhooks;
  policy: Policy;
}

/** Most ledger entries one answer holds. */
const MAX_LEDGER = 500;

/** Plans with booked messaging sessions get a messaging allowance too. */
const hasMessagingSessions = (plan: Plan) => plan.kind === 'eap' || plan.kind === 'bh_insurance';

/**
 * Session credits: period allowances, purchases, the client's balance, and
 * every write to the ledger (a booking's reserve, restore, forfeit, consume)
 * and to the charges, each with its webhook.
 */
export class CreditService {
  private readonly d: CreditDeps;
  constructor(d: CreditDeps) {
    this.d = d;
  }

  /**
   * Makes sure the client holds the current period's allowance and that the
   * period's end is scheduled (rollover). Idempotent; runs inside the caller's
   * transaction, which holds the client's lock.
   */
  async ensurePeriod(t: Tx, clientId: string, now: Date): Promise<{ plan: Plan; periodEndsAt: Date } | null> {
    const [plan, client] = await Promise.all([t.users.getPlan(clientId), t.users.get(clientId)]);
    if (!plan || !client) return null;
    const period = periodAt(plan.periodStart, client.timezone, now);
    let added = await t.credits.grant(
      clientId,
      'live',
      period.startDate,
      plan.liveSessionsPerPeriod,
      period.end,
      now,
    );
    if (hasMessagingSessions(plan)) {
      added += await t.credits.grant(
        clientId,
        'messaging',
        period.startDate,
        plan.messagingSessionsPerPeriod,
        period.end,
        now,
      );
    }
    if (added > 0) {
      await this.d.webhooks.enqueue(
        t.jobs,
        'credit.granted',
        { clientId, count: added, periodStart: period.startDate },
        now,
      );
    }
    await t.jobs.add(
      `rollover:${clientId}:${period.end.toISOString()}`,
      'billing.rollover',
      period.end,
      { clientId },
      now,
    );
    return { plan, periodEndsAt: period.end };
  }

  /** The billing-period rollover job: unused allowance lapses (no carry-over), the new period's is granted. */
  readonly rollover = async (job: TypedJob<'billing.rollover'>): Promise<void> => {
    const { clientId } = job.payload;
    const now = this.d.clock.now();
    await this.d.uow.run(async (t) => {
      await t.bookings.lockUsers([clientId]);
      for (const creditId of await t.credits.lapsed(clientId, now)) {
        await t.credits.record(creditId, 'expire', null, 'period ended', now);
      }
      await this.ensurePeriod(t, clientId, now);
    });
  };

  async planChanged(clientId: string): Promise<void> {
    const now = this.d.clock.now();
    await this.d.uow.run(async (t) => {
      await t.bookings.lockUsers([clientId]);
      await this.ensurePeriod(t, clientId, now);
    });
  }

  /**
   * The client's balance and ledger. The ledger answers the newest entries,
   * at most MAX_LEDGER (before `beforeSeq`, for the older ones); `hasMore`
   * says older entries remain.
   */
  async balance(
    actor: Actor,
    page: { beforeSeq?: number | undefined; limit?: number | undefined } = {},
  ): Promise<{
    available: number;
    availableByType: { live: number; messaging: number };
    periodEndsAt: string | null;
    ledger: LedgerEntry[];
    hasMore: boolean;
    charges: Charge[];
  }> {
    if (actor.role !== 'client') throw new AppError('forbidden', 'credits belong to clients');
    const now = this.d.clock.now();
    const limit = Math.min(page.limit ?? MAX_LEDGER, MAX_LEDGER);
    return this.d.uow.run(async (t) => {
      await t.bookings.lockUsers([actor.id]);
      const period = await this.ensurePeriod(t, actor.id, now);
      const [live, messaging, entries, charges] = await Promise.all([
        t.credits.available(actor.id, 'live', now),
        t.credits.available(actor.id, 'messaging', now),
        t.credits.entries(actor.id, limit + 1, page.beforeSeq),
        t.bookings.charges(actor.id, MAX_LEDGER),
      ]);
      // Oldest first: one more than asked means an older one is left out.
      const hasMore = entries.length > limit;
      return {
        available: live.length,
        availableByType: { live: live.length, messaging: messaging.length },
        periodEndsAt: period?.periodEndsAt.toISOString() ?? null,
        ledger: hasMore ? entries.slice(1) : entries,
        hasMore,
        charges,
      };
    });
  }

  /**
   * A client's own plan: what it allows each period, the current period, and
   * how much of this period's allowance is spoken for (reserved, used or lost).
   */
  async plan(actor: Actor) {
    if (actor.role !== 'client') throw new AppError('forbidden', 'plans belong to clients');
    const now = this.d.clock.now();
    return this.d.uow.run(async (t) => {
      await t.bookings.lockUsers([actor.id]);
      const current = await this.ensurePeriod(t, actor.id, now);
      const [plan, client] = await Promise.all([t.users.getPlan(actor.id), t.users.get(actor.id)]);
      if (!current || !plan || !client) throw new AppError('not_found', 'no plan is set for this client');
      const period = periodAt(plan.periodStart, client.timezone, now);
      const used = await t.credits.usedOfPeriod(actor.id, period.end);
      return {
        plan,
        period: { startsAt: period.start.toISOString(), endsAt: period.end.toISOString() },
        allowance: {
          live: plan.liveSessionsPerPeriod,
          messaging: hasMessagingSessions(plan) ? (plan.messagingSessionsPerPeriod ?? 0) : 0,
        },
        used,
      };
    });
  }

  /** Out-of-pocket clients buy extra live credits; a repeated paymentRef buys nothing more. */
  async purchase(actor: Actor, count: number, paymentRef: string) {
    if (actor.role === 'support')
      throw new AppError('support_cannot_manage_sessions', 'support cannot buy sessions for a client');
    if (actor.role !== 'client') throw new AppError('forbidden', 'clients buy their own credits');
    const now = this.d.clock.now();
    const bought = await this.d.uow.run(async (t) => {
      await t.bookings.lockUsers([actor.id]);
      const plan = await t.users.getPlan(actor.id);
      if (plan?.kind !== 'out_of_pocket')
        throw new AppError('forbidden', 'only out-of-pocket plans buy credits');
      const r = await t.credits.purchase(actor.id, count, paymentRef, now);
      if (r.creditIds.length !== count) {
        // Not the reference itself: error messages never repeat what a client wrote.
        throw new AppError('conflict', `paymentRef: already used, for ${r.creditIds.length} credits`);
      }
      if (r.added)
        await this.d.webhooks.enqueue(
          t.jobs,
          'credit.purchased',
          { clientId: actor.id, count, paymentRef },
          now,
        );
      return r.creditIds;
    });
    return { creditIds: bought, ...(await this.balance(actor)) };
  }

  // ---- a booking's credit ------------------------------------------------------

  /** A credit for a new booking: the soonest-expiring available, or one bought now (out-of-pocket only). */
  async take(
    t: Tx,
    clientId: string,
    type: CreditType,
    bookingId: string,
    o: { purchase: boolean; outOfPocket: boolean; now: Date },
  ): Promise<string> {
    const [first] = await t.credits.available(clientId, type, o.now);
    if (first) return first.creditId;
    if (o.purchase) {
      if (!o.outOfPocket)
        throw new AppError('no_credit', 'no credit left, and only out-of-pocket plans buy more');
      const { creditIds } = await t.credits.purchase(clientId, 1, `booking:${bookingId}`, o.now);
      await this.d.webhooks.enqueue(t.jobs, 'credit.purchased', { clientId, count: 1, bookingId }, o.now);
      return creditIds[0]!;
    }
    throw new AppError(
      'no_credit',
      o.outOfPocket
        ? 'no session credit left; book with purchase: true to buy one'
        : 'no session credit left this period',
    );
  }

  /** Whether a credit is still as a provider's no-show gave it back (not used again since). */
  async stillRestored(t: Tx, creditId: string): Promise<boolean> {
    return (await t.credits.latest(creditId))?.kind === 'restore';
  }

  /** Reserves `creditId` for a new booking. */
  async reserve(t: Tx, creditId: string, bookingId: string, reason: string, now: Date): Promise<void> {
    await t.credits.record(creditId, 'reserve', bookingId, reason, now);
  }

  /**
   * A booking's credit moves as its lifecycle row says. A restore or forfeit
   * takes the credit only from this booking's reserve (or forfeit, as the row
   * says): anything else means the credit has moved on, and it stays.
   * A credit the provider gave back stays usable for a rebooking even if its
   * period has ended (POLICY_RESTORE_VALIDITY).
   */
  async move(t: Tx, b: Booking, m: CreditMove, now: Date): Promise<void> {
    if (!b.creditId || m.kind === 'reserve' || m.kind === 'move') return;
    const data = { clientId: b.clientId, bookingId: b.id, creditId: b.creditId };
    if (m.kind === 'consume') {
      await t.credits.record(b.creditId, 'consume', b.id, m.reason, now);
      await this.d.webhooks.enqueue(t.jobs, 'credit.consumed', data, now);
      return;
    }
    const latest = await t.credits.latest(b.creditId);
    const holds = m.kind === 'restore' ? (m.of ?? 'reserve') : 'reserve';
    if (latest?.kind !== holds || latest.bookingId !== b.id) return;
    const current = latest.expiresAt === null ? null : new Date(latest.expiresAt);
    const expiresAt =
      m.kind === 'restore' && m.givenBack ? restoredExpiry(current, now, this.d.policy) : current;
    await t.credits.record(b.creditId, m.kind, b.id, m.reason, now, expiresAt);
    const type = m.kind === 'restore' ? 'credit.restored' : 'credit.forfeited';
    await this.d.webhooks.enqueue(t.jobs, type, data, now);
  }

  /**
   * Records the charge a row makes (once per booking and reason), or waives a
   * booking's charges; a waive with none left to waive is refused.
   */
  async charge(t: Tx, b: Booking, c: ChargeStep, by: string, now: Date): Promise<void> {
    if (c.kind === 'waive') {
      if (!(await t.bookings.waiveCharges(b.id, by, now)))
        throw new AppError('conflict', 'this booking has no charge left to waive');
      return;
    }
    if (await t.bookings.recordCharge(randomUUID(), b.clientId, b.id, c.reason, now)) {
      const data = { clientId: b.clientId, bookingId: b.id, reason: c.reason };
      await this.d.webhooks.enqueue(t.jobs, 'credit.charged', data, now);
    }
  }
}
