import type { MediaSessionPort } from '../../services/live.ts';

/**
 * What one node asks of the node holding a session: every method of the media
 * session port, typed by the port itself, and `open` (open the session there
 * if it is not yet, and answer its router's capabilities).
 */
export interface SessionCalls extends Omit<MediaSessionPort, 'rtpCapabilities'> {
  open(): Promise<unknown>;
}
export type SessionCall = keyof SessionCalls;
export type CallArgs<C extends SessionCall> = Parameters<SessionCalls[C]>;
export type CallResult<C extends SessionCall> = Awaited<ReturnType<SessionCalls[C]>>;

/**
 * The relayed calls, at run time: the one list, which `tsc` holds to the port
 * (a port method missing here, or a name here that the port lacks, does not
 * compile). Each says what the holder does when the session is not open on it:
 * `reopen` opens it there, `rejoin` refuses (media_unavailable: the participant
 * rejoins), `done` answers at once (closing what is closed is nothing to do).
 */
export const SESSION_CALLS = {
  open: 'reopen',
  createTransport: 'rejoin',
  connectTransport: 'rejoin',
  restartIce: 'rejoin',
  produce: 'rejoin',
  receive: 'rejoin',
  consume: 'rejoin',
  resume: 'rejoin',
  pauseProducer: 'rejoin',
  resumeProducer: 'rejoin',
  producers: 'rejoin',
  closePeer: 'done',
  close: 'done',
} as const satisfies Record<SessionCall, 'reopen' | 'rejoin' | 'done'>;

export const SESSION_CALL_NAMES = Object.keys(SESSION_CALLS) as [SessionCall, ...SessionCall[]];
