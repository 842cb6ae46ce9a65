import { periodAt } from '../domain/periods.ts';
import type { Actor, Plan } from '../domain/types.ts';
import { AppError } from '../errors.ts';
import type { Charge } from '../store/bookings.ts';
import type { LedgerEntry } from '../store/credits.ts';
import type { ServiceDeps } from './deps.ts';
import { inTx, type Tx } from './tx.ts';
import type { Webhooks } from './webhooks.ts';

export interface CreditDeps extends ServiceDeps {
  webhooks: Webhooks;
}

/** Most ledger entries one answer holds. */
const MAX_LEDGER = 500;

/** Plans with booked messaging sessions get a messaging allowance too. */
const hasMessagingSessions = (plan: Plan) => plan.kind === 'eap' || plan.kind === 'bh_insurance';

/** Session credits: period allowances, purchases, and the client's balance. */
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
        t.q,
        'credit.granted',
        { clientId, count: added, periodStart: period.startDate },
        now,
      );
    }
    await t.jobs.schedule(
      `rollover:${clientId}:${period.end.toISOString()}`,
      'billing.rollover',
      period.end,
      { clientId },
      now,
    );
    t.scheduled = true;
    return { plan, periodEndsAt: period.end };
  }

  /** The billing-period rollover job: unused allowance lapses (no carry-over), the new period's is granted. */
  async rollover(clientId: string): Promise<void> {
    const now = this.d.clock.now();
    await this.tx(async (t) => {
      await t.bookings.lockUsers([clientId]);
      for (const creditId of await t.credits.lapsed(clientId, now)) {
        await t.credits.record(creditId, 'expire', null, 'period ended', now);
      }
      await this.ensurePeriod(t, clientId, now);
    });
  }

  async planChanged(clientId: string): Promise<void> {
    const now = this.d.clock.now();
    await this.tx(async (t) => {
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
    return this.tx(async (t) => {
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
    return this.tx(async (t) => {
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
    const bought = await this.tx(async (t) => {
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
          t.q,
          'credit.purchased',
          { clientId: actor.id, count, paymentRef },
          now,
        );
      return r.creditIds;
    });
    return { creditIds: bought, ...(await this.balance(actor)) };
  }

  private tx<T>(fn: (t: Tx) => Promise<T>): Promise<T> {
    return inTx(this.d.store.db, fn, (t) => {
      if (t.scheduled) this.d.wakeScheduler();
    });
  }
}
