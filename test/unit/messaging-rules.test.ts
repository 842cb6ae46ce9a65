import { describe, expect, it } from 'vitest';
import { canPost, canRead } from '../../src/domain/access.ts';
import { assertMayPost, type PostContext } from '../../src/domain/messaging-rules.ts';
import type { Actor, Plan, Room } from '../../src/domain/types.ts';

const room = (over: Partial<Room> = {}): Room => ({
  id: 'r1',
  kind: 'therapy',
  service: 'therapy',
  clientId: 'c1',
  providerId: 'p1',
  requesterId: null,
  escalations: [],
  lastSeq: 0,
  awaitingReplySince: null,
  createdAt: new Date(0),
  ...over,
});
const plan = (kind: Plan['kind'], includesMessaging = true): Plan => ({
  kind,
  includesMessaging,
  liveSessionsPerPeriod: 4,
  messagingSessionsPerPeriod: 2,
  periodStart: '2026-11-01',
});
const client: Actor = { id: 'c1', role: 'client' };
const provider: Actor = { id: 'p1', role: 'provider' };

const attempt = (over: Partial<PostContext>) => {
  try {
    assertMayPost({
      actor: client,
      room: room(),
      kind: 'text',
      hasMeta: false,
      plan: plan('out_of_pocket'),
      messagingSessionOpen: false,
      ...over,
    });
    return 'allowed';
  } catch (e) {
    return (e as { code: string }).code;
  }
};

describe('who may message, by plan (DOMAIN.md)', () => {
  it.each([
    ['out_of_pocket', true, false, 'allowed'],
    ['organization', true, false, 'allowed'],
    ['organization', false, false, 'plan_excludes_messaging'],
    ['eap', true, false, 'messaging_session_required'],
    ['eap', true, true, 'allowed'],
    ['bh_insurance', true, false, 'messaging_session_required'],
    ['bh_insurance', true, true, 'allowed'],
  ] as const)('a %s client (includesMessaging %s, session open %s): %s', (kind, includes, open, expected) => {
    expect(attempt({ plan: plan(kind, includes), messagingSessionOpen: open })).toBe(expected);
  });

  it('a client without a plan may not message', () => {
    expect(attempt({ plan: null })).toBe('plan_excludes_messaging');
  });

  it('providers may always reply, whatever the client’s plan', () => {
    for (const kind of ['eap', 'bh_insurance', 'organization'] as const) {
      expect(attempt({ actor: provider, plan: plan(kind, false) })).toBe('allowed');
    }
  });

  it('psychiatry rooms refuse asynchronous messaging from both sides', () => {
    expect(attempt({ room: room({ service: 'psychiatry' }) })).toBe('psychiatry_video_only');
    expect(attempt({ actor: provider, room: room({ service: 'psychiatry' }) })).toBe('psychiatry_video_only');
  });

  it('only bots post system messages or meta; bots may post even in psychiatry rooms', () => {
    expect(attempt({ kind: 'system' })).toBe('forbidden');
    expect(attempt({ hasMeta: true })).toBe('forbidden');
    expect(
      attempt({
        actor: { id: 'b', role: 'bot', rooms: ['*'] },
        kind: 'system',
        room: room({ service: 'psychiatry' }),
      }),
    ).toBe('allowed');
  });

  it('clients share availability whatever their plan; providers do not', () => {
    expect(attempt({ kind: 'availability', plan: plan('eap') })).toBe('allowed');
    expect(attempt({ kind: 'availability', actor: provider })).toBe('forbidden');
  });
});

describe('who may see a room', () => {
  const support: Actor = { id: 's1', role: 'support' };
  const clinical: Actor = { id: 'k1', role: 'clinical' };
  const supportRoom = room({
    kind: 'support',
    service: null,
    clientId: null,
    providerId: null,
    requesterId: 'c1',
  });

  it('support staff and admins never read therapy rooms', () => {
    expect(canRead(support, room())).toBe(false);
    expect(canRead({ id: 'a', role: 'admin' }, room())).toBe(false);
    expect(canRead(client, room())).toBe(true);
    expect(canRead({ id: 'c2', role: 'client' }, room())).toBe(false);
  });

  it('a support room is shared by its requester and the support team; clinical only once escalated', () => {
    expect(canRead(client, supportRoom)).toBe(true);
    expect(canRead(support, supportRoom)).toBe(true);
    expect(canRead(clinical, supportRoom)).toBe(false);
    expect(canRead(clinical, { ...supportRoom, escalations: ['clinical'] })).toBe(true);
    expect(canRead(provider, supportRoom)).toBe(false);
  });

  it('a bot posts only into the rooms its token names', () => {
    expect(canPost({ id: 'b', role: 'bot', rooms: ['r1'] }, room())).toBe(true);
    expect(canPost({ id: 'b', role: 'bot', rooms: ['*'] }, room())).toBe(true);
    expect(canPost({ id: 'b', role: 'bot', rooms: ['r2'] }, room())).toBe(false);
    expect(canRead({ id: 'b', role: 'bot', rooms: ['*'] }, room())).toBe(false);
  });
});
