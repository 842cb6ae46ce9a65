/** Users, plans and rooms provisioned through talkroom's admin REST API, as a deployment's backend does. */
import { z } from 'zod';
import * as A from '../../protocol/answers.ts';
import { mintToken } from '../../src/auth/tokens.ts';
import { mapLimit } from './util.ts';

/** One REST call; a failed connection is tried again (twice) where the call is idempotent (PUT, GET, room creation). */
export async function api(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<any> {
  const idempotent = method === 'PUT' || method === 'GET' || path === '/v1/rooms';
  let res: Response;
  for (let attempt = 1; ; attempt++) {
    try {
      res = await fetch(base + path, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
      break;
    } catch (e) {
      if (!idempotent || attempt >= 3)
        throw new Error(`${method} ${path}: ${(e as Error).message}`, { cause: e });
    }
  }
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Answers read by the benchmarks, checked against the contract's schemas. */
export const RoomAnswer = z.object({ room: A.Room });
export const BookingAnswer = z.object({ booking: A.Booking });

export const adminToken = (secret: string) =>
  mintToken(secret, { sub: 'bench-admin', role: 'admin' }, { expiresInSec: 3600 });

/** A therapy room and its two members' tokens: [client, provider]. */
export interface RoomSpec {
  roomId: string;
  tokens: [string, string];
  userIds: [string, string];
}

const pad = (i: number) => String(i).padStart(4, '0');

export interface ProvisionOptions {
  /** Extra fields of the provider (working hours, for bookings). */
  provider?: Record<string, unknown>;
  periodStart?: string;
  concurrency?: number;
  prefix?: string;
}

/** `count` rooms, each a client with a messaging plan and a provider. */
export async function provisionRooms(
  url: string,
  secret: string,
  count: number,
  o: ProvisionOptions = {},
): Promise<RoomSpec[]> {
  const admin = adminToken(secret);
  const prefix = o.prefix ?? 'bench';
  const out: RoomSpec[] = new Array(count);
  await mapLimit(
    Array.from({ length: count }, (_, i) => i),
    o.concurrency ?? 32,
    async (i) => {
      const client = `${prefix}-client-${pad(i)}`;
      const provider = `${prefix}-provider-${pad(i)}`;
      await api(url, admin, 'PUT', `/v1/users/${client}`, {
        role: 'client',
        displayName: `Client ${i}`,
        timezone: 'UTC',
      });
      await api(url, admin, 'PUT', `/v1/users/${provider}`, {
        role: 'provider',
        displayName: `Provider ${i}`,
        timezone: 'UTC',
        specialty: 'therapy',
        ...o.provider,
      });
      await api(url, admin, 'PUT', `/v1/users/${client}/plan`, {
        kind: 'out_of_pocket',
        includesMessaging: true,
        liveSessionsPerPeriod: 4,
        periodStart: o.periodStart ?? '2026-11-01',
      });
      const { room } = RoomAnswer.parse(
        await api(url, admin, 'POST', '/v1/rooms', {
          kind: 'therapy',
          clientId: client,
          providerId: provider,
          service: 'therapy',
        }),
      );
      out[i] = {
        roomId: room.id,
        userIds: [client, provider],
        tokens: [
          mintToken(secret, { sub: client, role: 'client' }, { expiresInSec: 3600 }),
          mintToken(secret, { sub: provider, role: 'provider' }, { expiresInSec: 3600 }),
        ],
      };
    },
  );
  return out;
}

/** The bare Socket.IO baseline's rooms: its "tokens" are names (it checks nothing). */
export function echoRooms(count: number): RoomSpec[] {
  return Array.from({ length: count }, (_, i) => ({
    roomId: `echo-room-${pad(i)}`,
    userIds: [`echo-client-${pad(i)}`, `echo-provider-${pad(i)}`] as [string, string],
    tokens: [`echo-client-${pad(i)}`, `echo-provider-${pad(i)}`] as [string, string],
  }));
}
