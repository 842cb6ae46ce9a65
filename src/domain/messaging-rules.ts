import { AppError } from '../errors.ts';
import type { Actor, MessageKind, Plan, Room } from './types.ts';

export interface PostContext {
  actor: Actor;
  room: Room;
  kind: MessageKind;
  hasMeta: boolean;
  /** An internal note (support rooms: staff only). */
  internal?: boolean;
  /** The client's plan; only consulted when a client posts in a therapy room. */
  plan: Plan | null;
  /** Whether a booked messaging session is in progress for this room now. */
  messagingSessionOpen: boolean;
  /** Whether the message belongs to a live session open for chat now (its bookingId). */
  inLiveSession?: boolean;
}

/**
 * What a plan allows (DOMAIN.md, "Plans"). Throws the AppError that names the
 * rule; returns when the post is allowed. Access (membership) is checked
 * before this, so this function only decides the product rules.
 */
export function assertMayPost(ctx: PostContext): void {
  const { actor, room, kind } = ctx;
  const fromBot = actor.role === 'bot';

  if ((kind === 'system' || ctx.hasMeta) && !fromBot) {
    throw new AppError('forbidden', 'only bots and the server post system messages or meta');
  }
  assertInternalRule(ctx);
  if (fromBot) return;

  if (kind === 'request') {
    if (room.kind !== 'therapy' || actor.role !== 'client') {
      throw new AppError('forbidden', 'booking requests are sent by the client of a therapy room');
    }
    // The source tells clients who cannot cancel on their own to coordinate in
    // the room: a request about a booking is allowed whatever the plan or service.
    return;
  }

  if (kind === 'availability') {
    if (room.kind !== 'therapy' || actor.role !== 'client') {
      throw new AppError('forbidden', 'availability is shared by the client of a therapy room');
    }
    // Sharing availability is how a client asks for a time when no slot fits:
    // part of booking, so it is allowed whatever the plan or service.
    return;
  }

  if (room.kind === 'support') return;

  if (room.service === 'psychiatry') {
    throw new AppError(
      'psychiatry_video_only',
      'psychiatry rooms are live video only: no asynchronous messaging',
    );
  }
  if (actor.role === 'provider') return;
  // Chat inside a booked live session is part of that session, whatever the plan says of messaging.
  if (ctx.inLiveSession) return;

  const plan = ctx.plan;
  if (!plan) throw new AppError('plan_excludes_messaging', 'the client has no plan that includes messaging');
  switch (plan.kind) {
    case 'out_of_pocket':
      return;
    case 'organization':
      if (plan.includesMessaging) return;
      throw new AppError(
        'plan_excludes_messaging',
        "the client's organization plan does not include messaging",
      );
    case 'eap':
    case 'bh_insurance':
      if (ctx.messagingSessionOpen) return;
      throw new AppError(
        'messaging_session_required',
        `${plan.kind} plans message only inside a booked messaging session`,
      );
  }
}

/**
 * Internal notes (DOMAIN.md: support rooms are tickets): only the support and
 * clinical teams write them, only in support rooms; the clinical team, there
 * to be consulted, writes nothing else.
 */
function assertInternalRule(ctx: PostContext): void {
  const { actor, room } = ctx;
  const staff = actor.role === 'support' || actor.role === 'clinical';
  if (ctx.internal) {
    if (room.kind !== 'support')
      throw new AppError('invalid_input', 'internal: only support rooms take internal notes');
    if (!staff || actor.id === room.requesterId) {
      throw new AppError('forbidden', 'internal: only the support and clinical teams write internal notes');
    }
    return;
  }
  if (actor.role === 'clinical' && room.kind === 'support') {
    throw new AppError('forbidden', 'the clinical team writes internal notes only (internal: true)');
  }
}
