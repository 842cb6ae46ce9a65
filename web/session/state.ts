/// <reference lib="dom" />
import type { Kind, LiveSession, Source } from '@talkroom/client';
import type { z } from 'zod';
import type { ErrorBody } from '../../protocol/errors.ts';
import type { JoinInfo as JoinInfoAnswer } from '../../protocol/rest.ts';
import type { Devices } from './local-media.ts';

export type Phase =
  | 'starting' // reading the link
  | 'connecting' // looking the link up, connecting, joining
  | 'waiting' // joined; the other party has not arrived yet
  | 'in_progress' // both have been here: the session is on
  | 'ended' // live:ended
  | 'left' // this participant pressed Leave
  | 'superseded' // the same link opened on another device took over
  | 'error'; // could not join (state.error says why)

export interface Person {
  userId: string;
  role: string;
  displayName: string | null;
}

export interface ChatLine {
  id: string;
  seq: number;
  mine: boolean;
  who: string;
  text: string;
  at: string;
}

/** What the page knows; read by tests through `window.talkroom.state`. */
export interface TalkroomState {
  phase: Phase;
  joinToken: string | null;
  me: Person | null;
  other: Person | null;
  /** The other party has a socket open (a hint from the room's members and presence events). */
  otherOnline: boolean;
  /** The other party was in the session and dropped out: shown as "reconnecting…". */
  otherAway: boolean;
  bookingId: string | null;
  roomId: string | null;
  modality: 'video' | 'audio' | 'chat' | 'messaging' | null;
  startsAt: string | null;
  endsAt: string | null;
  /** The link's window (from the lookup, or read from the link when the lookup refused it). */
  opensAt: string | null;
  closesAt: string | null;
  /** The server said the link's window has not opened yet (null: not asked, or refused). */
  linkOpen: boolean | null;
  startedAt: string | null;
  /** This device's clock minus the server's, learnt from live:started: the call timer counts from the server's start. */
  skewMs: number;
  endedStatus: string | null;
  participants: { userId: string; role: string }[];
  error: ErrorBody | null;
  /** A problem beside the session itself: camera blocked, reconnecting. */
  notice: string | null;
  connected: boolean;
  handlerName: string | null;
  producers: { audio: string | null; video: string | null; screen: string | null };
  audioPaused: boolean;
  videoPaused: boolean;
  /** The other side's tracks; `paused` when nothing arrives on one (muted, camera off, or away). */
  consumers: Omit<Remote, 'track'>[];
  chat: ChatLine[];
  messages: number;
  devices: Devices;
  cameraId: string | null;
  microphoneId: string | null;
  /** The microphone's level, 0–1. */
  level: number;
  /** The connection check: the server, and the media path once media flows. */
  check: { server: 'checking' | 'ok' | 'failed'; media: 'checking' | 'direct' | 'relay' | 'failed' | 'none' };
}

/** What a join link grants (GET /v1/join/:token): the contract's answer. */
export type JoinInfo = z.output<typeof JoinInfoAnswer>;

export interface Remote {
  consumerId: string;
  producerId: string;
  userId: string;
  kind: Kind;
  source: Source;
  /** Nothing arrives on it: the other side muted it, turned the camera off, or is away. */
  paused: boolean;
  track: MediaStreamTrack;
}

/** What the media side of the page (media.ts) works on: the page, seen from there. */
export interface MediaHost {
  readonly state: TalkroomState;
  live: LiveSession | null;
  readonly local: {
    mic: MediaStreamTrack | null;
    camera: MediaStreamTrack | null;
    screen: MediaStreamTrack | null;
  };
  remotes: Remote[];
  set(patch: Partial<TalkroomState>): void;
  finish(patch: Partial<TalkroomState>): void;
  syncSending(): void;
}
