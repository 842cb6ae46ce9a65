import { DateTime } from 'luxon';
import type { NoticeEvent } from '../domain/booking-lifecycle.ts';

/**
 * What the room reads about a booking: times in each participant's own time
 * zone (a client in Berlin and a provider in New York read the same message),
 * never a raw ISO string.
 */
export interface Reader {
  name: string;
  timezone: string;
}

/** "Wednesday 18 November at 10:00 (America/New_York)". */
export const whenIn = (iso: string, timezone: string): string =>
  `${DateTime.fromISO(iso, { zone: timezone }).toFormat("cccc d LLLL 'at' HH:mm")} (${timezone})`;

/** The time for each reader, once when they share a zone. */
export function whenFor(iso: string, client: Reader, provider: Reader): string {
  if (client.timezone === provider.timezone) return whenIn(iso, client.timezone);
  return `${whenIn(iso, client.timezone)} for ${client.name}, ${whenIn(iso, provider.timezone)} for ${provider.name}`;
}

/** The reminder a person reads: when, each participant's own join link, and from when the links work. */
export function reminderText(o: {
  modality: string;
  startsAt: string;
  opensAt: Date;
  now: Date;
  client: Reader & { joinUrl: string };
  provider: Reader & { joinUrl: string };
}): string {
  const opens =
    o.opensAt.getTime() > o.now.getTime()
      ? ` The links work from ${whenFor(o.opensAt.toISOString(), o.client, o.provider)}.`
      : '';
  return (
    `Reminder: your ${o.modality} session is on ${whenFor(o.startsAt, o.client, o.provider)}.${opens}` +
    ` ${o.client.name}, join here: ${o.client.joinUrl} — ${o.provider.name}, join here: ${o.provider.joinUrl}`
  );
}

type When = (iso: string) => string;
type About = { modality: string; startsAt: string };

/** Each notice's text; `when` gives a time in each reader's zone. */
export const NOTICE_TEXT: Record<NoticeEvent, (b: About, when: When) => string> = {
  booked: (b, when) => `A ${b.modality} session was booked for ${when(b.startsAt)}.`,
  confirmed: (b, when) => `The ${b.modality} session on ${when(b.startsAt)} is confirmed.`,
  declined: (b, when) => `The provider declined the session on ${when(b.startsAt)}; the credit is back.`,
  expired: (b, when) =>
    `The session on ${when(b.startsAt)} was not confirmed in time and expired; the credit is back.`,
  cancelled: (b, when) => `The session on ${when(b.startsAt)} was cancelled; the credit is back.`,
  late_cancelled: (b, when) => `The session on ${when(b.startsAt)} was cancelled late; the credit is used.`,
  rescheduled: (b, when) => `The session moved to ${when(b.startsAt)}.`,
  session_started: (b) => `The ${b.modality} session has started.`,
  session_ended: () => 'The session has ended.',
  client_no_show: (b, when) =>
    `The client did not join the session on ${when(b.startsAt)}; the session credit is used.`,
  provider_no_show: (b, when) =>
    `The provider did not join the session on ${when(b.startsAt)}. Your credit is back: reschedule with the same credit.`,
  charge_waived: (b, when) =>
    `The provider waived the charge for the session on ${when(b.startsAt)}; the credit is back.`,
  messaging_started: () => 'Messaging session in progress.',
  messaging_ended: () => 'The messaging session has ended.',
};
