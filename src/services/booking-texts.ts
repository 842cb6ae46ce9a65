import { DateTime } from 'luxon';

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
