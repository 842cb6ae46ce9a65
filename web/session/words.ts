/** What the session page says: error codes in plain words, times in the viewer's own zone. */

/** A short title and what to do about it, by error code. */
export const FRIENDLY: Record<string, [title: string, hint: string]> = {
  join_window_closed: [
    'This session is not open right now',
    'The link works from shortly before the start until the end of the session.',
  ],
  forbidden: ['This link is for someone else', 'Please use the link that was sent to you.'],
  unauthenticated: [
    'This link is not valid',
    'Please check that you opened the whole link, or ask for a new one.',
  ],
  token_expired: ['Your sign-in has expired', 'Please open the session again from the app.'],
  not_found: ['We could not find this session', 'It may have been cancelled or moved. Please check the app.'],
  invalid_input: ['This link looks incomplete', 'Please open the whole link you were sent.'],
  conflict: [
    'This session is no longer open',
    'It was cancelled, rescheduled or has ended. Please check the app for your bookings.',
  ],
  media_unavailable: ['Audio and video are not available right now', 'We keep trying; chat still works.'],
  unavailable: ['The service is restarting', 'We keep trying to reconnect; there is no need to reload.'],
  rate_limited: ['Too many attempts', 'Please wait a moment; we try again by ourselves.'],
  modality_mismatch: ['This session does not use that kind of media', ''],
  superseded: [
    'You joined from another device or tab',
    'The session continues there. Close this page, or join here again to move it back.',
  ],
};

export function explain(e: { code: string; message: string }): string {
  const f = FRIENDLY[e.code];
  return f ? `${f[0]}. ${f[1]}`.trim() : e.message;
}

const day = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long' });
const time = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });

/** "Wednesday, 18 November, 10:00 AM" in the viewer's zone and language. */
export const dayAndTime = (iso: string | number): string =>
  `${day.format(new Date(iso))}, ${time.format(new Date(iso))}`;
export const clockTime = (iso: string | number): string => time.format(new Date(iso));

/** "Video session · Wednesday, 18 November · 10:00–10:50 AM". */
export function sessionLine(modality: string, startsAt: string, endsAt: string): string {
  const what = modality === 'video' ? 'Video' : modality === 'audio' ? 'Audio' : 'Chat';
  return `${what} session · ${day.format(new Date(startsAt))} · ${clockTime(startsAt)}–${clockTime(endsAt)}`;
}

/** 0:42, 12:07, 1:02:03. */
export function elapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

export function roleName(role: string): string {
  if (role === 'provider') return 'Your provider';
  if (role === 'client') return 'Your client';
  return role.charAt(0).toUpperCase() + role.slice(1);
}

/** Who the join link is for and when it works, read from the link itself (unverified: only to say so). */
export function linkClaims(
  joinToken: string,
): { sub: string | null; opensAt: number; closesAt: number } | null {
  try {
    const b64 = joinToken.split('.')[1]!.replace(/-/g, '+').replace(/_/g, '/');
    const c = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(b64), (x) => x.charCodeAt(0))));
    return typeof c.nbf === 'number' && typeof c.exp === 'number'
      ? { sub: typeof c.sub === 'string' ? c.sub : null, opensAt: c.nbf * 1000, closesAt: c.exp * 1000 }
      : null;
  } catch {
    return null;
  }
}

/** What happens next, by how the session ended (the booking's status), for this participant. */
export function nextSteps(status: string, role: string): string {
  switch (status) {
    case 'completed':
      return role === 'client'
        ? 'Thank you. You can keep writing to your provider in your room, and book your next session there.'
        : 'The session is recorded as completed.';
    case 'provider_no_show':
      return role === 'client'
        ? 'Your provider did not join. Your credit has been returned: book a new time with the same credit.'
        : 'You were recorded as not having joined; the client’s credit was returned.';
    case 'client_no_show':
      return role === 'client'
        ? 'You were recorded as not having joined. If that is wrong, write to your provider in your room.'
        : 'The client did not join. You can waive the charge from the booking in the app.';
    default:
      return 'You can find this booking in the app.';
  }
}

/** A link whose booking moved on (the lookup's `conflict` names the booking's status). */
export function goneTitle(status: string): string {
  if (status === 'cancelled' || status === 'late_cancelled') return 'This session was cancelled';
  if (status === 'rescheduled') return 'This session was moved to another time';
  if (status === 'pending_confirmation') return 'This session is not confirmed yet';
  return 'This session has ended';
}

export const endedTitle = (status: string): string =>
  status === 'provider_no_show'
    ? 'Your provider did not join'
    : status === 'client_no_show'
      ? 'The client did not join'
      : 'The session has ended';
