import type { MediaSessionPort } from '../../services/live.ts';
import { type CallArgs, type CallResult, SESSION_CALL_NAMES, type SessionCall } from './calls.ts';

/** Sends one call to the node holding the session. */
export type Relay = <C extends SessionCall>(call: C, args: CallArgs<C>) => Promise<CallResult<C>>;

/** A session placed on another node, as the media port: every method relays its call to that node. */
export interface RemoteMediaSession extends MediaSessionPort {
  readonly holder: string;
  readonly sessionId: string;
}

/**
 * Builds the remote session from the list of relayed calls, so a method added
 * to the port is relayed without being written here.
 */
export function remoteMediaSession(o: {
  holder: string;
  sessionId: string;
  /** The router's capabilities, when the caller asked the holder to open the session. */
  rtpCapabilities: unknown;
  relay: Relay;
}): RemoteMediaSession {
  const methods: Partial<Record<SessionCall, unknown>> = {};
  for (const call of SESSION_CALL_NAMES) {
    if (call !== 'open') methods[call] = (...args: CallArgs<typeof call>) => o.relay(call, args);
  }
  return {
    ...(methods as Omit<MediaSessionPort, 'rtpCapabilities'>),
    holder: o.holder,
    sessionId: o.sessionId,
    rtpCapabilities: o.rtpCapabilities,
  };
}
