import { setTimeout as delay } from 'node:timers/promises';
import type { Router } from 'mediasoup/types';
import type { Logger } from 'pino';
import { type MediaConfig, type MediaSettings, mediaCodecs, resolveMediaSettings } from './config.ts';
import { MediaError } from './errors.ts';
import { MediaSession } from './session.ts';
import { checkId } from './validate.ts';
import { MediaWorker } from './worker.ts';

export interface WorkerStats {
  pid: number;
  sessions: number;
  transports: number;
  producers: number;
  consumers: number;
}

/** How long session() waits for a replacement when no worker is alive. */
const WORKER_WAIT_MS = 10_000;
const RESPAWN_MAX_DELAY_MS = 10_000;

/**
 * The worker processes and the sessions on them. A session's router lives on
 * one worker, chosen least-loaded when the session is first asked for. A
 * worker that dies takes its routers with it: its sessions are dropped,
 * listeners hear of each (participants must rejoin), and the slot is refilled
 * with a new worker on the same WebRtcServer port.
 */
export class MediaPool {
  readonly #settings: MediaSettings;
  readonly #log: Logger;
  /** Slot i holds the worker on port rtcMinPort + i; empty while it is being replaced. */
  readonly #slots: Array<MediaWorker | undefined>;
  readonly #sessions = new Map<string, MediaSession>();
  readonly #pending = new Map<string, Promise<MediaSession>>();
  readonly #sessionLostListeners: Array<(sessionId: string) => void> = [];
  readonly #respawns = new Set<Promise<void>>();
  /** session() calls waiting for a worker to come back. */
  readonly #waiters = new Set<(error?: MediaError) => void>();
  readonly #stop = new AbortController();
  #closing: Promise<void> | undefined;

  /** Use MediaPool.create(). */
  constructor(settings: MediaSettings, log: Logger, workers: MediaWorker[]) {
    this.#settings = settings;
    this.#log = log;
    this.#slots = new Array(settings.workers).fill(undefined);
    for (const worker of workers) this.#install(worker);
  }

  static async create(config: MediaConfig, log: Logger): Promise<MediaPool> {
    const settings = resolveMediaSettings(config);
    const mediaLog = log.child({ component: 'media' });
    const results = await Promise.allSettled(
      Array.from({ length: settings.workers }, (_, i) => MediaWorker.create(i, settings)),
    );
    const workers = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = results.findIndex((r) => r.status === 'rejected');
    const failure = results[failed];
    if (failure?.status === 'rejected') {
      await Promise.all(workers.map((w) => w.close()));
      const reason = failure.reason instanceof Error ? failure.reason.message : String(failure.reason);
      throw new MediaError(
        'media_unavailable',
        `media worker ${failed} (port ${config.rtcMinPort + failed}) did not start: ${reason}`,
      );
    }
    mediaLog.info({ workers: workers.map((w) => w.pid) }, 'media workers started');
    return new MediaPool(settings, mediaLog, workers);
  }

  /** Every worker alive (for readiness probes). */
  get ready(): boolean {
    return this.#closing === undefined && this.#slots.every((w) => w?.alive);
  }

  /** Get or create the session's router, on the least-loaded worker. */
  async session(sessionId: string): Promise<MediaSession> {
    checkId('sessionId', sessionId);
    if (this.#closing) throw new MediaError('media_unavailable', 'media pool is closed');
    const existing = this.#sessions.get(sessionId);
    if (existing && !existing.closed) return existing;
    let pending = this.#pending.get(sessionId);
    if (!pending) {
      pending = this.#createSession(sessionId).finally(() => this.#pending.delete(sessionId));
      this.#pending.set(sessionId, pending);
    }
    return pending;
  }

  /** The session if it is open here (async like the rest of the media port, which a relayed session implements too). */
  async get(sessionId: string): Promise<MediaSession | undefined> {
    return this.#sessions.get(sessionId);
  }

  /** A worker died: its sessions are closed, the worker is replaced; listeners tell participants to rejoin. */
  onSessionLost(listener: (sessionId: string) => void): void {
    this.#sessionLostListeners.push(listener);
  }

  /** Per live worker, for metrics and benchmarks. */
  stats(): WorkerStats[] {
    return this.#slots.flatMap((w) => (w?.alive ? [w.stats()] : []));
  }

  /** Safe twice; closes every session and worker, and waits for the processes to exit. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#stop.abort();
    for (const wake of [...this.#waiters]) wake(new MediaError('media_unavailable', 'media pool is closed'));
    for (const session of [...this.#sessions.values()]) void session.close();
    await Promise.all(this.#respawns);
    const workers = this.#slots.filter((w) => w !== undefined);
    this.#slots.fill(undefined);
    await Promise.all(workers.map((w) => w.close()));
    this.#log.info('media workers closed');
  }

  async #createSession(sessionId: string): Promise<MediaSession> {
    const worker = await this.#reserveLeastLoaded();
    let router: Router;
    try {
      router = await worker.worker.createRouter({ mediaCodecs });
    } catch (error) {
      this.#log.warn({ err: error, sessionId, pid: worker.pid }, 'router creation failed');
      throw new MediaError('media_unavailable', `session ${sessionId}: media worker unavailable`);
    } finally {
      worker.reserved -= 1;
    }
    if (this.#closing || !worker.alive) {
      router.close();
      throw new MediaError('media_unavailable', `session ${sessionId}: media worker unavailable`);
    }
    const session = new MediaSession({
      id: sessionId,
      router,
      webRtcServer: worker.webRtcServer,
      plainListenInfo: this.#settings.plainListenInfo,
      log: this.#log.child({ sessionId }),
      onClose: (closed) => {
        // A dying worker closes its routers before it reports 'died'; the
        // 'died' handler needs its session list intact to announce the loss.
        if (worker.worker.died) return;
        worker.sessions.delete(sessionId);
        if (this.#sessions.get(sessionId) === closed) this.#sessions.delete(sessionId);
      },
    });
    worker.sessions.set(sessionId, session);
    this.#sessions.set(sessionId, session);
    this.#log.debug({ sessionId, pid: worker.pid }, 'media session created');
    return session;
  }

  /** Picks the worker and counts the session on it at once, so concurrent creations spread. */
  async #reserveLeastLoaded(): Promise<MediaWorker> {
    const deadline = Date.now() + WORKER_WAIT_MS;
    for (;;) {
      let best: MediaWorker | undefined;
      for (const worker of this.#slots) {
        if (!worker?.alive) continue;
        if (!best || compare(worker.load(), best.load()) < 0) best = worker;
      }
      if (best) {
        best.reserved += 1;
        return best;
      }
      if (this.#closing) throw new MediaError('media_unavailable', 'media pool is closed');
      // Workers closed by a signal (mediasoup closes them on SIGINT/SIGTERM) are not replaced.
      if (this.#respawns.size === 0) throw new MediaError('media_unavailable', 'no media worker available');
      // Every worker is being replaced (a one-worker pool after a crash):
      // participants told to rejoin come back within that window.
      await this.#workerInstalled(deadline - Date.now());
    }
  }

  #workerInstalled(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const wake = (error?: MediaError) => {
        clearTimeout(timer);
        this.#waiters.delete(wake);
        if (error) reject(error);
        else resolve();
      };
      const timer = setTimeout(
        () => wake(new MediaError('media_unavailable', 'no media worker available')),
        Math.max(timeoutMs, 0),
      );
      this.#waiters.add(wake);
    });
  }

  #install(worker: MediaWorker): void {
    this.#slots[worker.index] = worker;
    worker.worker.once('died', (error) => this.#onDied(worker, error));
    for (const wake of [...this.#waiters]) wake();
  }

  #onDied(worker: MediaWorker, error: Error): void {
    const lost = [...worker.sessions.keys()];
    this.#log.error({ err: error, pid: worker.pid, sessions: lost.length }, 'media worker died');
    if (this.#slots[worker.index] === worker) this.#slots[worker.index] = undefined;
    for (const sessionId of lost) {
      if (this.#sessions.get(sessionId) === worker.sessions.get(sessionId)) this.#sessions.delete(sessionId);
    }
    worker.sessions.clear();
    // Before the listeners: a participant told to rejoin may ask for its
    // session at once, and session() waits only for a replacement under way.
    if (!this.#closing) this.#respawn(worker.index);
    for (const sessionId of lost) {
      this.#log.warn({ sessionId }, 'media session lost');
      for (const listener of this.#sessionLostListeners) {
        try {
          listener(sessionId);
        } catch (err) {
          this.#log.error({ err, sessionId }, 'onSessionLost listener threw');
        }
      }
    }
  }

  /** Refill a slot, retrying with backoff (the port may linger, the host may be short of memory). */
  #respawn(index: number): void {
    const run = async () => {
      for (let attempt = 1; !this.#closing; attempt += 1) {
        try {
          const worker = await MediaWorker.create(index, this.#settings);
          if (this.#closing) {
            await worker.close();
            return;
          }
          this.#install(worker);
          this.#log.info({ pid: worker.pid, index, attempt }, 'media worker replaced');
          return;
        } catch (error) {
          const wait = Math.min(100 * 2 ** attempt, RESPAWN_MAX_DELAY_MS);
          this.#log.error({ err: error, index, attempt, retryInMs: wait }, 'media worker replacement failed');
          await delay(wait, undefined, { signal: this.#stop.signal }).catch(() => {});
        }
      }
    };
    const respawn: Promise<void> = run().finally(() => this.#respawns.delete(respawn));
    this.#respawns.add(respawn);
  }
}

function compare(a: [number, number], b: [number, number]): number {
  return a[0] - b[0] || a[1] - b[1];
}
