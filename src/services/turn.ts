import { createHmac } from 'node:crypto';
import type { Config } from '../config.ts';

/** One entry of RTCConfiguration.iceServers, as the join answer carries it. */
export interface IceServer {
  urls: string[];
  username: string;
  credential: string;
}

/**
 * TURN credentials in the TURN REST API scheme that coturn checks with
 * `use-auth-secret` / `static-auth-secret`: the username is
 * `<unix expiry>:<userId>` and the credential base64(HMAC-SHA1(secret,
 * username)), so no per-user state is shared with the relay. The expiry is on
 * the wall clock (`now`), not the services' Clock: coturn compares it with its own.
 */
export function turnIceServers(turn: Config['turn'], userId: string, now: number = Date.now()): IceServer[] {
  if (!turn.urls.length || !turn.secret) return [];
  const username = `${Math.floor((now + turn.ttlMs) / 1000)}:${userId}`;
  const credential = createHmac('sha1', turn.secret).update(username).digest('base64');
  return [{ urls: turn.urls, username, credential }];
}
