/// <reference lib="dom" />
import type { TalkroomError } from '@talkroom/client';
import { useEffect, useState } from 'preact/hooks';
import type { Charge, Credits, PlanView } from './api.ts';
import type { AppStore } from './store.ts';
import { when } from './time.ts';

const HALF_DAY = 12 * 3_600_000;
const shortDay = (ms: number) =>
  new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'long' }).format(new Date(ms));

const PLAN_WORDS: Record<PlanView['plan']['kind'], string> = {
  out_of_pocket: 'Pay as you go',
  organization: 'Through your organization',
  eap: 'Employee assistance program',
  bh_insurance: 'Behavioral health insurance',
};

const CHARGE_WORDS: Record<Charge['reason'], string> = {
  late_cancellation: 'Cancelled less than 24 hours before',
  late_reschedule: 'Moved less than 24 hours before',
  client_no_show: 'Missed session',
};

/** A client's plan (what it allows, this period's use) and every charge. */
export function AccountView({ store }: { store: AppStore }) {
  const [plan, setPlan] = useState<PlanView | null>(null);
  const [credits, setCredits] = useState<Credits | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    Promise.all([store.api.plan(), store.api.credits()]).then(
      ([p, c]) => {
        setPlan(p);
        setCredits(c);
      },
      (e: TalkroomError) => setError(e.code === 'not_found' ? 'No plan is set up for you yet.' : e.message),
    );
  }, [store]);

  if (error) return <p class="banner">{error}</p>;
  if (!plan || !credits) return <p class="muted">Loading your plan…</p>;
  const p = plan.plan;
  return (
    <div class="account">
      <section class="card" aria-labelledby="plan-title">
        <h2 id="plan-title">Your plan</h2>
        <p>
          <strong>{PLAN_WORDS[p.kind]}</strong>
        </p>
        <dl class="facts">
          <dt>This period</dt>
          <dd>
            {/* The period runs midnight to midnight in the client's own zone: half a day in from each end
                names the right days in any viewer's zone. */}
            {shortDay(Date.parse(plan.period.startsAt) + HALF_DAY)} –{' '}
            {shortDay(Date.parse(plan.period.endsAt) - HALF_DAY)}
          </dd>
          <dt>Live sessions</dt>
          <dd>
            {plan.used.live} of {plan.allowance.live} used
          </dd>
          {(p.kind === 'eap' || p.kind === 'bh_insurance') && (
            <>
              <dt>Messaging sessions</dt>
              <dd>
                {plan.used.messaging} of {plan.allowance.messaging} used
              </dd>
            </>
          )}
          <dt>Messaging</dt>
          <dd>
            {p.kind === 'eap' || p.kind === 'bh_insurance'
              ? 'During a booked messaging session'
              : p.includesMessaging
                ? 'Any time'
                : 'Not included'}
          </dd>
          <dt>Credits you can book with</dt>
          <dd>{credits.available}</dd>
        </dl>
        {p.kind === 'out_of_pocket' && (
          <p class="muted">Unused sessions do not carry over. You can buy more while booking.</p>
        )}
      </section>
      <section class="card" aria-labelledby="charges-title">
        <h2 id="charges-title">Charges</h2>
        {credits.charges.length === 0 ? (
          <p class="muted">No charges.</p>
        ) : (
          <ul class="plain">
            {credits.charges.map((c) => (
              <li key={`${c.bookingId}-${c.at}`} class="row-item">
                <span>
                  {CHARGE_WORDS[c.reason]} · {when(c.at)}
                </span>
                {c.waived ? (
                  <span class="tag">Waived by your provider</span>
                ) : (
                  <span class="tag overdue-tag">Charged</span>
                )}
              </li>
            ))}
          </ul>
        )}
      </section>
    </div>
  );
}
