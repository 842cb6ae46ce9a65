/** What the join benchmark's two routes share: settings, the provisioned session, the result's shape. */
import { requestsByEvent, scrape } from '../lib/metrics.ts';
import type { ServerProc } from '../lib/processes.ts';
import { num } from '../lib/util.ts';
import type { JoinSample, summarise } from './join-analysis.ts';

export const JOIN_REPS = Math.round(num('BENCH_JOIN_REPS', 10, 1, 50, 2));
export const ROUTE = (process.env.BENCH_JOIN_ROUTE ?? 'auto') as 'auto' | 'browser' | 'node';
export const MEDIA_TIMEOUT_MS = 20_000;
export const POLL_MS = 10;
/** Wall-clock ms, comparable with the pages' own clock (performance.timeOrigin + now). */
export const clock = () => performance.timeOrigin + performance.now();

export interface Setup {
  srv: ServerProc;
  /** 'media worker died' lines: the SFU process crashed (the pool replaces it). */
  workerDeaths: string[];
  bookingId: string;
  clientId: string;
  providerId: string;
  clientJwt: string;
  providerJwt: string;
  /** The join link of a participant (a path on the server, with the signed join token). */
  link: (userId: string) => string;
  joinToken: (userId: string) => string;
}

export interface JoinResult {
  ok: boolean;
  error?: string;
  route: 'browser' | 'node' | 'none';
  routeDescription?: string;
  /** Why the browser route was not used (when it was tried and failed). */
  browserFailure?: { error: string; workerDeaths: string[] };
  chromium?: string;
  reps: number;
  first?: JoinSample | undefined;
  samples: JoinSample[];
  summary?: ReturnType<typeof summarise>;
  serverProblems?: string[];
}

/** talkroom_socket_requests_total by event, to cross-check a join's request count with the server's. */
export const serverRequests = async (url: string) => requestsByEvent(await scrape(url));
