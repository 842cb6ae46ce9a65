import type { Booking, Message } from './api.ts';

/**
 * Times as a person reads them: in the viewer's own time zone (the browser's),
 * in words, never an ISO string. `zone` is there for tests and embedding.
 */
export const viewerZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone;

const fmt = (opts: Intl.DateTimeFormatOptions, zone?: string) =>
  new Intl.DateTimeFormat(undefined, { ...opts, ...(zone ? { timeZone: zone } : {}) });

/** "Wed 18 Nov, 10:00". */
export function when(iso: string | Date, zone?: string): string {
  return fmt(
    { weekday: 'short', day: 'numeric', month: 'short', hour: 'numeric', minute: '2-digit' },
    zone,
  ).format(new Date(iso));
}

/** "10:00". */
export function clock(iso: string | Date, zone?: string): string {
  return fmt({ hour: 'numeric', minute: '2-digit' }, zone).format(new Date(iso));
}

/** "Wednesday 18 November": a day heading. */
export function day(iso: string | Date, zone?: string): string {
  return fmt({ weekday: 'long', day: 'numeric', month: 'long' }, zone).format(new Date(iso));
}

/** The calendar day in the viewer's zone, to group and compare by ("2026-11-18"). */
export function dayKey(iso: string | Date, zone?: string): string {
  return fmt({ year: 'numeric', month: '2-digit', day: '2-digit' }, zone)
    .formatToParts(new Date(iso))
    .filter((p) => p.type !== 'literal')
    .map((p) => p.value)
    .join('-');
}

/** "in 3 hours", "2 days ago". */
export function relative(iso: string | Date, now = Date.now()): string {
  const diff = new Date(iso).getTime() - now;
  const abs = Math.abs(diff);
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  if (abs < 60_000) return rtf.format(0, 'minute');
  if (abs < 3_600_000) return rtf.format(Math.round(diff / 60_000), 'minute');
  if (abs < 86_400_000) return rtf.format(Math.round(diff / 3_600_000), 'hour');
  return rtf.format(Math.round(diff / 86_400_000), 'day');
}

export const MODALITY_WORDS: Record<Booking['modality'], string> = {
  video: 'video session',
  audio: 'audio session',
  chat: 'chat session',
  messaging: 'messaging session',
};

export const STATUS_WORDS: Record<Booking['status'], string> = {
  pending_confirmation: 'Waiting for the provider to confirm',
  confirmed: 'Confirmed',
  in_progress: 'In progress',
  completed: 'Completed',
  cancelled: 'Cancelled',
  late_cancelled: 'Cancelled late',
  declined: 'Declined by the provider',
  expired: 'Not confirmed in time',
  rescheduled: 'Moved to another time',
  client_no_show: 'Missed by the client',
  provider_no_show: 'Missed by the provider',
};

/**
 * A system message in words for this viewer: the server's own text names both
 * participants' zones and links; the app writes it again from `meta` in the
 * viewer's zone, and keeps the server's text for events it does not know.
 */
export function systemText(m: Message, zone?: string): string {
  const meta = (m.meta ?? {}) as Record<string, unknown>;
  const event = typeof meta.event === 'string' ? meta.event : '';
  const at = typeof meta.startsAt === 'string' ? when(meta.startsAt, zone) : '';
  const what =
    typeof meta.modality === 'string'
      ? (MODALITY_WORDS[meta.modality as Booking['modality']] ?? 'session')
      : 'session';
  switch (event) {
    case 'reminder':
      return `Reminder: your ${typeof meta.modality === 'string' ? what : 'session'} is on ${at}.`;
    case 'booked':
      return `A ${what} was booked for ${at}.`;
    case 'confirmed':
      return `The ${what} on ${at} is confirmed.`;
    case 'declined':
      return `The provider declined the session on ${at}; the credit is back.`;
    case 'expired':
      return `The session on ${at} was not confirmed in time; the credit is back.`;
    case 'cancelled':
      return `The session on ${at} was cancelled; the credit is back.`;
    case 'late_cancelled':
      return `The session on ${at} was cancelled late; the credit is used.`;
    case 'rescheduled':
      return `The session moved to ${at}.`;
    case 'session_started':
      return `The ${what} has started.`;
    case 'session_ended':
      return 'The session has ended.';
    case 'client_no_show':
      return `The client did not join the session on ${at}; the credit is used.`;
    case 'provider_no_show':
      return `The provider did not join the session on ${at}. The credit is back: book again with it.`;
    case 'charge_waived':
      return `The provider waived the charge for the session on ${at}; the credit is back.`;
    case 'messaging_started':
      return 'Messaging session in progress.';
    case 'messaging_ended':
      return 'The messaging session has ended.';
    case 'escalated':
      return meta.to === 'clinical' ? 'Escalated to the clinical team.' : 'Escalated to a supervisor.';
    default:
      return stripIso(m.text ?? '');
  }
}

/** An unknown system text may still carry raw instants: show them in words too. */
export function stripIso(text: string, zone?: string): string {
  return text.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?Z/g, (iso) => when(iso, zone));
}

/** The viewer's own join link in a reminder (the server names one per participant). */
export function joinUrlFor(m: Message, userId: string): string | null {
  const urls = (m.meta as { joinUrls?: Record<string, string> } | undefined)?.joinUrls;
  const url = urls?.[userId];
  return typeof url === 'string' ? url : null;
}
