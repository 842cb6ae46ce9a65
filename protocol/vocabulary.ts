/**
 * The words of the contract (PROTOCOL.md, DOMAIN.md): the closed lists every
 * schema, the server's domain and the SDK share. Pure data, no imports, so a
 * browser bundle takes it as it is.
 */

export const ROLES = ['client', 'provider', 'support', 'clinical', 'bot', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const PLAN_KINDS = ['out_of_pocket', 'organization', 'eap', 'bh_insurance'] as const;
export type PlanKind = (typeof PLAN_KINDS)[number];

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];
/** Per weekday, a list of [start, end] wall-clock times ("09:00") in the user's time zone. */
export type WorkingHours = Partial<Record<Weekday, Array<[string, string]>>>;

export const MESSAGE_KINDS = ['text', 'voice', 'video', 'availability', 'system', 'request'] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

export const LIVE_MODALITIES = ['video', 'audio', 'chat'] as const;
export const MODALITIES = [...LIVE_MODALITIES, 'messaging'] as const;
export type Modality = (typeof MODALITIES)[number];

export const BOOKING_STATUSES = [
  'pending_confirmation',
  'confirmed',
  'in_progress',
  'completed',
  'cancelled',
  'late_cancelled',
  'declined',
  'expired',
  'rescheduled',
  'client_no_show',
  'provider_no_show',
] as const;
export type BookingStatus = (typeof BOOKING_STATUSES)[number];

export const ROOM_KINDS = ['therapy', 'support'] as const;
export const SERVICES = ['therapy', 'psychiatry'] as const;
export const ESCALATION_TARGETS = ['supervisor', 'clinical'] as const;
/** What a client asks of their provider about a booking (a message of kind `request`). */
export const BOOKING_REQUESTS = ['cancel', 'reschedule'] as const;
export type BookingRequest = (typeof BOOKING_REQUESTS)[number];
/** A support room is a ticket: open, pending on the requester, or resolved. */
export const TICKET_STATUSES = ['open', 'pending', 'resolved'] as const;
export type TicketStatus = (typeof TICKET_STATUSES)[number];

const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$|^24:00$/;
export const minutesOf = (hhmm: string): number => {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return h * 60 + m;
};

/** Returns a problem with the hours, or null if they are well formed. */
export function workingHoursProblem(hours: WorkingHours): string | null {
  for (const day of Object.keys(hours)) {
    if (!(WEEKDAYS as readonly string[]).includes(day)) return `${day}: not a weekday (use mon..sun)`;
    const ranges = [...(hours[day as Weekday] ?? [])].sort((a, b) => minutesOf(a[0]) - minutesOf(b[0]));
    let lastEnd = -1;
    for (const [start, end] of ranges) {
      if (!HHMM.test(start) || !HHMM.test(end)) return `${day}: times are HH:MM`;
      if (minutesOf(start) >= minutesOf(end)) return `${day}: ${start} is not before ${end}`;
      if (minutesOf(start) < lastEnd) return `${day}: ranges overlap`;
      lastEnd = minutesOf(end);
    }
  }
  return null;
}

/** An IANA zone the runtime knows (what luxon's IANAZone.isValidZone asks Intl, without luxon in a browser bundle). */
export function isValidTimezone(tz: string): boolean {
  if (!tz) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz }).format();
    return true;
  } catch {
    return false;
  }
}
