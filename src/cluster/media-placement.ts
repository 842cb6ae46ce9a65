import { randomBytes } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { MediaPort, MediaSessionPort } from '../services/live.ts';
import type { NodeLiveness } from '../services/liveness.ts';
import type { RedisConnections } from './redis.ts';

/** What ClusterMedia needs of the local SFU (media/'s MediaPool). */
export interface LocalMedia {
  readonly ready: boolean;
  session(sessionId: string): Promise<MediaSessionPort>;
  get(sessionId: string): (MediaSessionPort & { readonly closed?: boolean }) | undefined;
  onSessionLost(listener: (sessionId: string) => void): void;
}

/** The session methods a node runs for another node (and nothing else). */
const RELAYED = new Set([
  'open',
  'createTransport',
  'connectTransport',
  'restartIce',
  'produce',
  'consume',
  'resume',
  'pauseProducer',
  'resumeProducer',
  'producers',
  'closePeer',
  'close',
]);

interface RelayRequest {
  id: string;
  from: string;
  sessionId: string;
  method: string;
  args: unknown[];
}

interface RelayReply {
  id: string;
  result?: unknown;
  error?: { name: string; code?: string; message: string };
}

/** Refreshes the key's expiry only while it still names this node. */
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
/** Takes the key over only while it still names the (dead) node it named. */
const TAKE_OVER = `if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 else return 0 end`;
/** Deletes the key only while it still names this node. */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/** An error as LiveService reads a media error: name MediaError and one of the public codes. */
function mediaError(code: string, message: string): Error {
  const e = new Error(message) as Error & { code: string };
  e.name = 'MediaError';
  e.code = code;
  return e;
}

export interface ClusterMediaOptions {
  local: LocalMedia;
  redis: Pick<RedisConnections, 'pub' | 'sub'>;
  prefix: string;
  log: Logger;
  nodeId?: string;
  /** Which nodes are alive: a placement on a node whose heartbeat is gone is free at once. */
  liveness?: NodeLiveness;
  /** How long a placement lasts without renewal (default 15 s); the owner renews it every third of that. */
  placementTtlMs?: number;
  /** How long a relayed call waits for the owner's answer (default 5 s). */
  callTimeoutMs?: number;
}

/**
 * Live-session placement across nodes. A session's router lives on one node:
 * the first join places it there (a Redis key naming the node, with an expiry
 * the owner renews while the session is open). A participant connected to
 * another node gets a proxy whose calls are relayed to the owner over Redis
 * pub/sub (one request channel per node, replies on the caller's channel), so
 * the client keeps its socket and its media goes to the owner's address. If
 * the owner dies its key expires and the next join places the session anew.
 */
export class ClusterMedia implements MediaPort {
  readonly nodeId: string;
  readonly #local: LocalMedia;
  readonly #pub: RedisConnections['pub'];
  readonly #sub: RedisConnections['sub'];
  readonly #prefix: string;
  readonly #log: Logger;
  readonly #ttlMs: number;
  readonly #callTimeoutMs: number;
  readonly #liveness: NodeLiveness | undefined;
  /** Sessions this node placed on itself, renewed while open. */
  readonly #owned = new Set<string>();
  readonly #pending = new Map<
    string,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  readonly #lostListeners: Array<(sessionId: string) => void> = [];
  #renewTimer: NodeJS.Timeout | undefined;
  #seq = 0;

  constructor(o: ClusterMediaOptions) {
    this.nodeId = o.nodeId ?? randomBytes(8).toString('hex');
    this.#local = o.local;
    this.#pub = o.redis.pub;
    this.#sub = o.redis.sub;
    this.#prefix = o.prefix;
    this.#log = o.log;
    this.#ttlMs = o.placementTtlMs ?? 15_000;
    this.#callTimeoutMs = o.callTimeoutMs ?? 5000;
    this.#liveness = o.liveness;
    this.#local.onSessionLost((id) => this.#lost(id));
  }

  /** Listens for relayed calls and their answers, and starts renewing placements. */
  async start(): Promise<this> {
    await this.#sub.subscribe(this.#requests(this.nodeId), (raw: string) => {
      this.#serve(raw).catch((e) =>
        this.#log.warn({ err: (e as Error).message }, 'relayed media call failed'),
      );
    });
    await this.#sub.subscribe(this.#replies(this.nodeId), (raw: string) => this.#answer(raw));
    this.#renewTimer = setInterval(() => this.#renew(), Math.max(Math.floor(this.#ttlMs / 3), 50));
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
      const local = this.#openLocal(sessionId);
      if (local) {
        await this.#claim(sessionId, false);
        return local;
      }
      const owner = await this.#owner(sessionId);
      if (owner === this.nodeId) return this.#placeHere(sessionId);
      if (owner && !(await this.#alive(owner))) {
        // The owner died (its heartbeat is gone): place the session here, and tell
        // the participants still on its old router (through other nodes) to rejoin.
        if (await this.#takeOver(sessionId, owner)) {
          this.#log.warn({ sessionId, deadNode: owner }, 'live session placed anew: its node is gone');
          const m = await this.#placeHere(sessionId);
          this.#lost(sessionId);
          return m;
        }
        continue;
      }
      if (owner) {
        // An owner that does not answer fails the join (media_unavailable); once its
        // placement expires, the next join places the session anew.
        const rtpCapabilities = await this.#call(owner, sessionId, 'open', []);
        return new RemoteMediaSession(this, owner, sessionId, rtpCapabilities);
      }
      if (await this.#claim(sessionId, true)) return this.#placeHere(sessionId);
      // Someone else placed it meanwhile: look again.
    }
    throw mediaError('media_unavailable', 'could not place the session');
  }

  async get(sessionId: string): Promise<MediaSessionPort | undefined> {
    const local = this.#openLocal(sessionId);
    if (local) return local;
    const owner = await this.#owner(sessionId);
    if (!owner || owner === this.nodeId || !(await this.#alive(owner))) return undefined;
    return new RemoteMediaSession(this, owner, sessionId, undefined);
  }

  /** Stops serving and renewing, and gives up this node's placements so they can be placed anew. */
  async close(): Promise<void> {
    clearInterval(this.#renewTimer);
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(mediaError('media_unavailable', 'this node is shutting down'));
    }
    this.#pending.clear();
    await Promise.allSettled([
      this.#sub.unsubscribe(this.#requests(this.nodeId)),
      this.#sub.unsubscribe(this.#replies(this.nodeId)),
      ...[...this.#owned].map((id) => this.#release(id)),
    ]);
    this.#owned.clear();
  }

  /** A relayed call to the owner; rejects with the owner's error, or media_unavailable when it does not answer. */
  call(owner: string, sessionId: string, method: string, args: unknown[]): Promise<unknown> {
    return this.#call(owner, sessionId, method, args).catch((e) => {
      if ((e as { timedOut?: boolean }).timedOut) this.#lost(sessionId);
      throw e;
    });
  }

  #call(owner: string, sessionId: string, method: string, args: unknown[]): Promise<unknown> {
    const id = `${this.nodeId}:${++this.#seq}`;
    const req: RelayRequest = { id, from: this.nodeId, sessionId, method, args };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        const e = mediaError('media_unavailable', 'the node holding this session did not answer in time');
        (e as { timedOut?: boolean }).timedOut = true;
        reject(e);
      }, this.#callTimeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#pub.publish(this.#requests(owner), JSON.stringify(req)).catch(() => {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(mediaError('media_unavailable', 'could not reach the node holding this session'));
      });
    });
  }

  #answer(raw: string): void {
    let reply: RelayReply;
    try {
      reply = JSON.parse(raw);
    } catch {
      return;
    }
    const p = this.#pending.get(reply.id);
    if (!p) return;
    this.#pending.delete(reply.id);
    clearTimeout(p.timer);
    if (reply.error) {
      const e = new Error(reply.error.message) as Error & { code?: string };
      e.name = reply.error.name;
      if (reply.error.code !== undefined) e.code = reply.error.code;
      p.reject(e);
    } else p.resolve(reply.result);
  }

  async #serve(raw: string): Promise<void> {
    let req: RelayRequest;
    try {
      req = JSON.parse(raw);
    } catch {
      return;
    }
    const reply: RelayReply = { id: req.id };
    try {
      reply.result = await this.#run(req);
    } catch (e) {
      const err = e as Error & { code?: unknown };
      reply.error =
        err?.name === 'MediaError' && typeof err.code === 'string'
          ? { name: 'MediaError', code: err.code, message: err.message }
          : { name: 'MediaError', code: 'media_unavailable', message: 'media request failed' };
      if (reply.error.code === 'media_unavailable' && err?.name !== 'MediaError')
        this.#log.error(
          { err: err?.message, sessionId: req.sessionId, method: req.method },
          'relayed media call failed',
        );
    }
    await this.#pub.publish(this.#replies(req.from), JSON.stringify(reply));
  }

  async #run(req: RelayRequest): Promise<unknown> {
    if (!RELAYED.has(req.method) || typeof req.sessionId !== 'string' || !Array.isArray(req.args))
      throw mediaError('invalid_input', 'unknown relayed media call');
    if (req.method === 'open') {
      // Still ours (a participant on another node joins): open it here if it is not yet (or any more).
      let m = this.#openLocal(req.sessionId);
      if (!m) {
        if ((await this.#owner(req.sessionId)) !== this.nodeId)
          throw mediaError('media_unavailable', 'the session is no longer placed on this node; rejoin');
        m = await this.#placeHere(req.sessionId);
      }
      return m.rtpCapabilities;
    }
    const m = this.#openLocal(req.sessionId);
    if (!m) {
      if (req.method === 'close' || req.method === 'closePeer') return null;
      throw mediaError('media_unavailable', 'the session has no media server; rejoin with live:join');
    }
    const fn = (m as unknown as Record<string, (...a: unknown[]) => unknown>)[req.method]!;
    const result = await fn.apply(m, req.args);
    if (req.method === 'close') {
      this.#owned.delete(req.sessionId);
      await this.#release(req.sessionId);
    }
    return result ?? null;
  }

  #openLocal(sessionId: string): MediaSessionPort | undefined {
    const m = this.#local.get(sessionId);
    return m && !m.closed ? m : undefined;
  }

  async #placeHere(sessionId: string): Promise<MediaSessionPort> {
    const m = await this.#local.session(sessionId);
    await this.#claim(sessionId, false);
    return m;
  }

  /** first: SET NX (true if this node placed it); otherwise take or keep it for this node. */
  async #claim(sessionId: string, first: boolean): Promise<boolean> {
    const key = this.#key(sessionId);
    if (first) {
      const set = await this.#pub.set(key, this.nodeId, { NX: true, PX: this.#ttlMs });
      if (set !== 'OK') return false;
    } else {
      await this.#pub.set(key, this.nodeId, { PX: this.#ttlMs });
    }
    this.#owned.add(sessionId);
    return true;
  }

  async #alive(nodeId: string): Promise<boolean> {
    if (!this.#liveness || nodeId === this.nodeId) return true;
    return (await this.#liveness.alive([nodeId])).has(nodeId);
  }

  async #takeOver(sessionId: string, deadOwner: string): Promise<boolean> {
    const taken = await this.#pub.eval(TAKE_OVER, {
      keys: [this.#key(sessionId)],
      arguments: [deadOwner, this.nodeId, String(this.#ttlMs)],
    });
    if (Number(taken) !== 1) return false;
    this.#owned.add(sessionId);
    return true;
  }

  async #owner(sessionId: string): Promise<string | undefined> {
    const v = await this.#pub.get(this.#key(sessionId));
    return typeof v === 'string' ? v : undefined;
  }

  #renew(): void {
    for (const id of [...this.#owned]) {
      if (!this.#openLocal(id)) {
        this.#owned.delete(id);
        this.#release(id).catch(() => {});
        continue;
      }
      this.#pub
        .eval(RENEW, { keys: [this.#key(id)], arguments: [this.nodeId, String(this.#ttlMs)] })
        .then((renewed) => {
          if (Number(renewed) === 1) return;
          // Taken over (this node was cut off past the expiry): the other placement wins.
          this.#log.warn({ sessionId: id }, 'live session placement lost; closing the local router');
          this.#owned.delete(id);
          this.#local.get(id)?.close();
          this.#lost(id);
        })
        .catch((e) =>
          this.#log.warn({ err: (e as Error).message, sessionId: id }, 'placement renewal failed'),
        );
    }
  }

  async #release(sessionId: string): Promise<void> {
    await this.#pub.eval(RELEASE, { keys: [this.#key(sessionId)], arguments: [this.nodeId] });
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

  #key(sessionId: string): string {
    return `${this.#prefix}:live:${sessionId}`;
  }

  #requests(nodeId: string): string {
    return `${this.#prefix}:media-call:${nodeId}`;
  }

  #replies(nodeId: string): string {
    return `${this.#prefix}:media-reply:${nodeId}`;
  }
}

/** A session placed on another node: every call is relayed to it. */
export class RemoteMediaSession implements MediaSessionPort {
  readonly owner: string;
  readonly sessionId: string;
  readonly #cluster: ClusterMedia;
  readonly #rtpCapabilities: unknown;

  constructor(cluster: ClusterMedia, owner: string, sessionId: string, rtpCapabilities: unknown) {
    this.#cluster = cluster;
    this.owner = owner;
    this.sessionId = sessionId;
    this.#rtpCapabilities = rtpCapabilities;
  }

  get rtpCapabilities(): unknown {
    return this.#rtpCapabilities;
  }

  #call<T>(method: string, ...args: unknown[]): Promise<T> {
    // JSON would turn a trailing undefined (no appData) into null.
    while (args.length && args[args.length - 1] === undefined) args.pop();
    return this.#cluster.call(this.owner, this.sessionId, method, args) as Promise<T>;
  }

  createTransport(peerId: string, direction: 'send' | 'recv') {
    return this.#call<Awaited<ReturnType<MediaSessionPort['createTransport']>>>(
      'createTransport',
      peerId,
      direction,
    );
  }
  async connectTransport(peerId: string, transportId: string, dtlsParameters: unknown) {
    await this.#call('connectTransport', peerId, transportId, dtlsParameters);
  }
  restartIce(peerId: string, transportId: string) {
    return this.#call<unknown>('restartIce', peerId, transportId);
  }
  produce(
    peerId: string,
    transportId: string,
    kind: 'audio' | 'video',
    rtpParameters: unknown,
    appData?: Record<string, unknown>,
  ) {
    return this.#call<{ producerId: string }>('produce', peerId, transportId, kind, rtpParameters, appData);
  }
  consume(peerId: string, transportId: string, producerId: string, rtpCapabilities: unknown) {
    return this.#call<Awaited<ReturnType<MediaSessionPort['consume']>>>(
      'consume',
      peerId,
      transportId,
      producerId,
      rtpCapabilities,
    );
  }
  async resume(peerId: string, consumerId: string) {
    await this.#call('resume', peerId, consumerId);
  }
  async pauseProducer(peerId: string, producerId: string) {
    await this.#call('pauseProducer', peerId, producerId);
  }
  async resumeProducer(peerId: string, producerId: string) {
    await this.#call('resumeProducer', peerId, producerId);
  }
  producers() {
    return this.#call<Array<{ producerId: string; peerId: string; kind: 'audio' | 'video' }>>('producers');
  }
  async closePeer(peerId: string) {
    await this.#call('closePeer', peerId);
  }
  async close() {
    await this.#call('close');
  }
}
