/// <reference lib="dom" />
/** The types of the SDK's live sessions (LiveSession, and the media of each join: LiveMedia). */
import type { types } from 'mediasoup-client';
import type { BookingStatus } from '../../protocol/vocabulary.ts';
import type { TalkroomError } from './errors.ts';

export type Kind = 'audio' | 'video';
/** What a local track is: it names the producer (appData.source) so the other side can tell a screen from a camera. */
export type Source = 'mic' | 'camera' | 'screen';

export interface RemoteTrack {
  userId: string;
  kind: Kind;
  track: MediaStreamTrack;
  consumerId: string;
  producerId: string;
  /**
   * What the track most likely is: audio is the microphone; a user's first
   * video is the camera and a second one, sent beside it, the screen (the
   * producer broadcast does not say which).
   */
  source: Source;
}

/** A local track, kept across rejoins; with its producer while it is sent. */
export interface LocalTrack {
  track: MediaStreamTrack;
  paused: boolean;
  producer?: types.Producer;
}

export type LiveRef = { bookingId: string } | { joinToken: string };
/** `superseded`: the same participant joined from another device or tab, which now has the session. */
export type LiveStatus =
  | 'joining'
  | 'waiting'
  | 'in_progress'
  | 'reconnecting'
  | 'ended'
  | 'left'
  | 'superseded';

export interface LiveOptions {
  /** Tracks to send as soon as the transports are up (e.g. from getUserMedia). More later with `produce`. */
  tracks?: Array<{ track: MediaStreamTrack; source?: Source }>;
  /** `relay` sends all media through the TURN servers the join answer lists. */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /**
   * The server's router capabilities from an earlier session (`routerRtpCapabilities`
   * after a join, e.g. kept in sessionStorage across a reload): the join then
   * carries this device's receive capabilities, and its answer the consumers
   * of what the other side sends, one request sooner.
   */
  routerRtpCapabilities?: unknown;
}

export interface LiveEvents {
  /** waiting → in_progress → ended; `reconnecting` while the socket or the media server is away. */
  status: (status: LiveStatus) => void;
  participants: (participants: Array<{ userId: string; role: string }>) => void;
  /** A track of the other side to render (one per consumed producer). */
  track: (t: RemoteTrack) => void;
  /** That track is gone (the other side stopped it, left, or the transports were rebuilt). */
  trackEnded: (t: RemoteTrack) => void;
  /** The session ended, with the booking's status (completed, …). */
  ended: (status: BookingStatus) => void;
  /** Something could not be done (receiving a track, sending one); the session goes on. */
  error: (error: TalkroomError) => void;
}
