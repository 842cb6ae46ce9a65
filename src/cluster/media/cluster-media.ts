import { randomBytes } from 'node:crypto';
import { MediaError } from '../../../media/errors.ts';
import type { Logger } from '../../log.ts';
import type { MediaPort, MediaSessionPort } from '../../services/live.ts';
import type { NodeLiveness } from '../../services/liveness.ts';
import type { RedisConnections } from '../redis.ts';
import {
  type CallArgs,
  type CallResult,
  SESSION_CALLS,
  type SessionCall,
  type SessionCalls,
} from './calls.ts';
import { Placements } from './placement.ts';
import { MediaRelay, RelayTimeout } from './relay.ts';
import { remoteMediaSession } from './remote-session.ts';

/** What ClusterMedia needs of this node's SFU (media/'s MediaPool): the media port, and the loss of a session. */
export interface LocalMedia extends MediaPort {
  get(sessionId: string): Promise<(MediaSessionPort & { readonly closed: boolean }) | undefined>;
  onSessionLost(listener: (sessionId: string) => void): void;
}

export interface ClusterMediaOptions {
  local: LocalMedia;
  redis: Pick<RedisConnections, 'pub' | 'sub'>;
  prefix: string;
  log: Logger;
  nodeId?: string;
  /** Which nodes are alive: a placement on a node whose heartbeat is gone is free at once. */
  liveness?: NodeLiveness;
  /** How long a placement lasts without renewal (default 15 s); the holder renews it every third of that. */
  placementTtlMs?: number;
  /** How long a relayed call waits for the holder's answer (default 5 s). */
  callTimeoutMs?: number;
}

/**
 * The media port of a node in a cluster. A session's router lives on one node:
 * the first join places it there (Placements). A participant connected to
 * another node gets a remote session whose calls go to the holder (MediaRelay),
 * so the client keeps its socket and its media goes to the holder's address.
 * If the holder dies its placement expires (or its heartbeat goes) and the
 * next join places the session anew.
 */
export class ClusterMedia implements MediaPort {
  readonly nodeId: string;
  readonly #local: LocalMedia;
  readonly #log: Logger;
  readonly #ttlMs: number;
  readonly #liveness: NodeLiveness | undefined;
  readonly #placements: Placements;
  readonly #relay: MediaRelay;
  readonly #lostListeners: Array<(sessionId: string) => void> = [];
  #renewTimer: NodeJS.Timeout | undefined;

  constructor(o: ClusterMediaOptions) {
    this.nodeId = o.nodeId ?? randomBytes(8).toString('hex');
    this.#local = o.local;
    this.#log = o.log;
    this.#ttlMs = o.placementTtlMs ?? 15_000;
    this.#liveness = o.liveness;
    this.#placements = new Placements({
      redis: o.redis,
      prefix: o.prefix,
      nodeId: this.nodeId,
      ttlMs: this.#ttlMs,
    });
    this.#relay = new MediaRelay({
      redis: o.redis,
      prefix: o.prefix,
      nodeId: this.nodeId,
      log: o.log,
      timeoutMs: o.callTimeoutMs ?? 5000,
      serve: (sessionId, call, args) => this.#serve(sessionId, call, args),
    });
    this.#local.onSessionLost((id) => this.#lost(id));
  }

  /** Serves relayed calls, and starts renewing placements. */
  async start(): Promise<this> {
    await this.#relay.start();
    this.#renewTimer = setInterval(() => void this.#renew(), Math.max(Math.floor(this.#ttlMs / 3), 50));
    this.#renewTimer.unref();
    return this;
  }

  get ready(): boolean {
    return this.#local.ready;
  }

  onSessionLost(listener: (sessionId: string) => void): void {
    this.#lostListeners.push(listener);
  }

  async session(sessionId: string): Promise<MediaSessionPort> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const local = await this.#openLocal(sessionId);
      if (local) {
        await this.#placements.hold(sessionId);
        return local;
      }
      const holder = await this.#placements.owner(sessionId);
      if (holder === this.nodeId) return this.#placeHere(sessionId);
      if (holder && !(await this.#alive(holder))) {
        // The holder died (its heartbeat is gone): place the session here, and tell
        // the participants still on its old router (through other nodes) to rejoin.
        if (await this.#placements.takeOver(sessionId, holder)) {
          this.#log.warn({ sessionId, deadNode: holder }, 'live session placed anew: its node is gone');
          const m = await this.#placeHere(sessionId);
          this.#lost(sessionId);
          return m;
        }
        continue;
      }
      if (holder) {
        // A holder that does not answer fails the join (media_unavailable); once its
        // placement expires, the next join places the session anew.
        const rtpCapabilities = await this.#relay.call(holder, sessionId, 'open', []);
        return this.#remote(holder, sessionId, rtpCapabilities);
      }
      if (await this.#placements.claim(sessionId)) return this.#placeHere(sessionId);
      // Someone else placed it meanwhile: look again.
    }
    throw new MediaError('media_unavailable', 'could not place the session');
  }

  async get(sessionId: string): Promise<MediaSessionPort | undefined> {
    const local = await this.#openLocal(sessionId);
    if (local) return local;
    const holder = await this.#placements.owner(sessionId);
    if (!holder || holder === this.nodeId || !(await this.#alive(holder))) return undefined;
    return this.#remote(holder, sessionId, undefined);
  }

  /** Stops serving and renewing, and gives up this node's placements so they can be placed anew. */
  async close(): Promise<void> {
    clearInterval(this.#renewTimer);
    await Promise.allSettled([
      this.#relay.close(),
      ...this.#placements.held().map((id) => this.#placements.release(id)),
    ]);
  }

  /** A session held elsewhere; a call its holder leaves unanswered tells this node's participants to rejoin. */
  #remote(holder: string, sessionId: string, rtpCapabilities: unknown): MediaSessionPort {
    const relay = <C extends SessionCall>(call: C, args: CallArgs<C>): Promise<CallResult<C>> =>
      this.#relay.call(holder, sessionId, call, args).catch((e: unknown) => {
        if (e instanceof RelayTimeout) this.#lost(sessionId);
        throw e;
      });
    return remoteMediaSession({ holder, sessionId, rtpCapabilities, relay });
  }

  /** A call another node relays here for a session it believes this node holds. */
  async #serve(sessionId: string, call: SessionCall, args: unknown[]): Promise<unknown> {
    let m = await this.#openLocal(sessionId);
    if (!m && SESSION_CALLS[call] === 'reopen') {
      // Still ours (a participant on another node joins): open it here again.
      if ((await this.#placements.owner(sessionId)) !== this.nodeId)
        throw new MediaError('media_unavailable', 'the session is no longer placed on this node; rejoin');
      m = await this.#placeHere(sessionId);
    }
    if (!m) {
      if (SESSION_CALLS[call] === 'done') return undefined;
      throw new MediaError('media_unavailable', 'the session has no media server; rejoin with live:join');
    }
    if (call === 'open') return m.rtpCapabilities;
    // The arguments come as the caller passed them to the same port method.
    const method = m[call] as (...a: unknown[]) => ReturnType<SessionCalls[typeof call]>;
    const result = await method.apply(m, args);
    if (call === 'close') await this.#placements.release(sessionId);
    return result;
  }

  async #openLocal(sessionId: string): Promise<MediaSessionPort | undefined> {
    const m = await this.#local.get(sessionId);
    return m && !m.closed ? m : undefined;
  }

  async #placeHere(sessionId: string): Promise<MediaSessionPort> {
    const m = await this.#local.session(sessionId);
    await this.#placements.hold(sessionId);
    return m;
  }

  async #alive(nodeId: string): Promise<boolean> {
    if (!this.#liveness || nodeId === this.nodeId) return true;
    return (await this.#liveness.alive([nodeId])).has(nodeId);
  }

  async #renew(): Promise<void> {
    await Promise.all(this.#placements.held().map((id) => this.#renewOne(id)));
  }

  async #renewOne(sessionId: string): Promise<void> {
    try {
      if (!(await this.#openLocal(sessionId))) return await this.#placements.release(sessionId);
      if (await this.#placements.renew(sessionId)) return;
      // Taken over (this node was cut off past the expiry): the other placement wins.
      this.#log.warn({ sessionId }, 'live session placement lost; closing the local router');
      await (await this.#local.get(sessionId))?.close();
      this.#lost(sessionId);
    } catch (e) {
      this.#log.warn({ err: (e as Error).message, sessionId }, 'placement renewal failed');
    }
  }

  #lost(sessionId: string): void {
    for (const l of this.#lostListeners) {
      try {
        l(sessionId);
      } catch (e) {
        this.#log.error({ err: (e as Error).message, sessionId }, 'onSessionLost listener threw');
      }
    }
  }
}
