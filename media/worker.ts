import { once } from 'node:events';
import { createWorker } from 'mediasoup';
import type { WebRtcServer, Worker } from 'mediasoup/types';
import type { MediaSettings } from './config.ts';
import type { MediaSession } from './session.ts';

/**
 * One mediasoup worker process, its WebRtcServer, and the sessions whose
 * routers it hosts. Created and replaced by MediaPool; `index` is its slot,
 * which fixes its WebRtcServer port across replacements.
 */
export class MediaWorker {
  readonly index: number;
  readonly worker: Worker;
  readonly webRtcServer: WebRtcServer;
  readonly sessions = new Map<string, MediaSession>();
  /** Sessions whose router is being created here: counted as load so a burst spreads. */
  reserved = 0;

  /** Use MediaWorker.create(). */
  constructor(index: number, worker: Worker, webRtcServer: WebRtcServer) {
    this.index = index;
    this.worker = worker;
    this.webRtcServer = webRtcServer;
  }

  static async create(index: number, settings: MediaSettings): Promise<MediaWorker> {
    const worker = await createWorker({ logLevel: 'warn' });
    try {
      const webRtcServer = await worker.createWebRtcServer({
        listenInfos: settings.webRtcServerListenInfos(index),
      });
      return new MediaWorker(index, worker, webRtcServer);
    } catch (error) {
      // Usually the port is taken; the process must not outlive the attempt.
      worker.close();
      throw error;
    }
  }

  get pid(): number {
    return this.worker.pid;
  }

  get alive(): boolean {
    return !this.worker.closed;
  }

  /** Sessions first (a new session's future load is unknown), then consumers. */
  load(): [number, number] {
    return [this.sessions.size + this.reserved, this.stats().consumers];
  }

  stats(): { pid: number; sessions: number; transports: number; producers: number; consumers: number } {
    let transports = 0;
    let producers = 0;
    let consumers = 0;
    for (const session of this.sessions.values()) {
      const counts = session.counts();
      transports += counts.transports;
      producers += counts.producers;
      consumers += counts.consumers;
    }
    return { pid: this.pid, sessions: this.sessions.size, transports, producers, consumers };
  }

  /** Safe twice; resolves once the process has exited. */
  async close(): Promise<void> {
    this.worker.close();
    if (!this.worker.subprocessClosed) await once(this.worker, 'subprocessclose');
  }
}
