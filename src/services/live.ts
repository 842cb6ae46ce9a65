import type { JoinAnswer } from '../../protocol/answers.ts';
import type { BookingStatus } from '../domain/bookings.ts';
import type { Actor } from '../domain/types.ts';
import { AppError, ERROR_CODES, type ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Booking } from '../store/bookings.ts';
import type { Attendance } from './live-attendance.ts';

/**
 * What live sessions need of the SFU. media/ implements it with mediasoup;
 * the session rules here never import it (server/ wires the two together).
 */
export interface MediaPort {
  readonly ready: boolean;
  session(sessionId: string): Promise<MediaSessionPort>;
  /** The session if it is open (on this node, or, in a cluster, on the node it was placed on). */
  get(sessionId: string): Promise<MediaSessionPort | undefined>;
}

export interface MediaSessionPort {
  readonly rtpCapabilities: unknown;
  createTransport(
    peerId: string,
    direction: 'send' | 'recv',
  ): Promise<{ id: string; iceParameters: unknown; iceCandidates: unknown; dtlsParameters: unknown }>;
  connectTransport(peerId: string, transportId: string, dtlsParameters: unknown): Promise<void>;
  restartIce(peerId: string, transportId: string): Promise<unknown>;
  produce(
    peerId: string,
    transportId: string,
    kind: 'audio' | 'video',
    rtpParameters: unknown,
    appData?: Record<string, unknown>,
  ): Promise<{ producerId: string }>;
  consume(
    peerId: string,
    transportId: string,
    producerId: string,
    rtpCapabilities: unknown,
  ): Promise<{ consumerId: string; producerId: string; kind: 'audio' | 'video'; rtpParameters: unknown }>;
  resume(peerId: string, consumerId: string): Promise<void>;
  pauseProducer(peerId: string, producerId: string): Promise<void>;
  resumeProducer(peerId: string, producerId: string): Promise<void>;
  producers(): Promise<Array<{ producerId: string; peerId: string; kind: 'audio' | 'video' }>>;
  closePeer(peerId: string): Promise<void>;
  close(): Promise<void>;
}

/** How live sessions reach their participants' sockets (signaling/ implements it). */
export interface LiveEvents {
  participant(ev: { bookingId: string; userId: string; role: string; state: 'joined' | 'left' }): void;
  started(ev: { bookingId: string; startedAt: string }): void;
  ended(ev: { bookingId: string; status: BookingStatus }): void;
  producer(ev: { bookingId: string; producerId: string; userId: string; kind: 'audio' | 'video' }): void;
  /** The media server under this session restarted: rejoin to get new transports. */
  rejoin(ev: { bookingId: string; reason: string }): void;
}

/**
 * Live sessions: attendance (admission through the booking's rules, presence,
 * the start and the end) and the media each participant sends and receives. A
 * participant is one media peer per session (their user id): joining again
 * replaces their earlier transports, which is how a dropped socket resumes.
 * Requests name a session by its booking id; its state is read from the
 * store, never kept per socket.
 */
export class LiveService {
  private readonly attendance: Attendance;
  private readonly media: MediaPort | undefined;
  private readonly events: LiveEvents;
  private readonly log: Logger;
  private readonly iceServers: (userId: string) => unknown[];

  constructor(d: {
    attendance: Attendance;
    media: MediaPort | undefined;
    events: LiveEvents;
    log: Logger;
    /** The ICE servers (TURN relays, with credentials) a participant's browser may use; none by default. */
    iceServers?: (userId: string) => unknown[];
  }) {
    this.attendance = d.attendance;
    this.media = d.media;
    this.events = d.events;
    this.log = d.log;
    this.iceServers = d.iceServers ?? (() => []);
  }

  async join(
    actor: Actor,
    ref: ({ bookingId: string } | { joinToken: string }) & {
      transports?: Array<'send' | 'recv'> | undefined;
    },
    /**
     * Called once the participant is admitted, before anything about the join is
     * announced: the caller subscribes to the session's events here, so the
     * joiner hears the start its own join causes.
     */
    onAdmitted?: (bookingId: string) => void,
  ): Promise<{ answer: JoinAnswer; booking: Booking }> {
    const admitted = await this.attendance.admit(actor, ref);
    onAdmitted?.(admitted.id);
    const live = admitted.modality !== 'chat';
    let media: MediaSessionPort | undefined;
    if (live) {
      media = await this.mediaSession(admitted.id);
      // A participant joining again (new socket, or after a drop) starts with fresh transports.
      await media.closePeer(actor.id);
    }
    const { booking, participants, started } = await this.attendance.presence(admitted, actor.id, true);
    const role = actor.id === booking.providerId ? 'provider' : 'client';
    // The start itself is announced when it commits (the session.started domain event).
    this.events.participant({ bookingId: booking.id, userId: actor.id, role, state: 'joined' });
    this.log.info({ bookingId: booking.id, userId: actor.id, started }, 'joined live session');
    const answer: JoinAnswer = {
      bookingId: booking.id,
      modality: booking.modality,
      status: booking.status === 'in_progress' ? 'in_progress' : 'waiting',
      participants: participants.filter((p) => p.present).map((p) => ({ userId: p.userId, role: p.role })),
    };
    if (media) {
      answer.routerRtpCapabilities = media.rtpCapabilities;
      answer.iceServers = this.iceServers(actor.id);
      if (ref.transports?.length) {
        const wanted = [...new Set(ref.transports)];
        const made = await this.withMedia(booking, (m) =>
          Promise.all(wanted.map((d) => m.createTransport(actor.id, d))),
        );
        answer.transports = Object.fromEntries(wanted.map((d, i) => [d, made[i]]));
      }
    }
    return { answer, booking };
  }

  /** The producers a newly joined participant should consume (sent to it right after the join answer). */
  async existingProducers(bookingId: string, userId: string) {
    const m = await this.media?.get(bookingId);
    return ((await m?.producers()) ?? []).filter((p) => p.peerId !== userId);
  }

  async leave(actor: Actor, bookingId: string): Promise<void> {
    const booking = await this.attendance.booking(actor, bookingId);
    try {
      await (await this.media?.get(booking.id))?.closePeer(actor.id);
    } catch (e) {
      this.log.warn({ err: (e as Error).message, bookingId: booking.id }, 'could not close the peer');
    }
    await this.attendance.presence(booking, actor.id, false);
    const role = actor.id === booking.providerId ? 'provider' : 'client';
    this.events.participant({ bookingId: booking.id, userId: actor.id, role, state: 'left' });
  }

  async end(actor: Actor, bookingId: string): Promise<void> {
    await this.attendance.end(actor, bookingId);
  }

  /** A session ended (the provider ended it, its time ran out, or a no-show): free its media, tell its sockets. */
  sessionEnded(bookingId: string, status: BookingStatus): void {
    Promise.resolve(this.media?.get(bookingId))
      .then((m) => m?.close())
      .catch((e) =>
        this.log.warn({ err: (e as Error).message, bookingId }, 'could not close the media session'),
      );
    this.events.ended({ bookingId, status });
  }

  mediaLost(bookingId: string): void {
    this.events.rejoin({ bookingId, reason: 'the media server restarted; rejoin to resume' });
  }

  async transport(actor: Actor, bookingId: string, direction: 'send' | 'recv') {
    return this.withMedia(await this.session(actor, bookingId), (m) =>
      m.createTransport(actor.id, direction),
    );
  }

  async connect(actor: Actor, bookingId: string, transportId: string, dtlsParameters: unknown) {
    const b = await this.session(actor, bookingId);
    await this.withMedia(b, (m) => m.connectTransport(actor.id, transportId, dtlsParameters));
  }

  async restartIce(actor: Actor, bookingId: string, transportId: string) {
    const b = await this.session(actor, bookingId);
    return { iceParameters: await this.withMedia(b, (m) => m.restartIce(actor.id, transportId)) };
  }

  /** Modality is enforced here: no video in an audio session (psychiatry books video only). */
  async produce(
    actor: Actor,
    bookingId: string,
    transportId: string,
    kind: 'audio' | 'video',
    rtpParameters: unknown,
    appData?: Record<string, unknown>,
  ) {
    const b = await this.session(actor, bookingId);
    if (kind === 'video' && b.modality !== 'video') {
      throw new AppError('modality_mismatch', `kind: a ${b.modality} session carries no video`);
    }
    const out = await this.withMedia(b, (m) =>
      m.produce(actor.id, transportId, kind, rtpParameters, appData),
    );
    this.events.producer({ bookingId: b.id, producerId: out.producerId, userId: actor.id, kind });
    return out;
  }

  async consume(
    actor: Actor,
    bookingId: string,
    transportId: string,
    producerId: string,
    rtpCapabilities: unknown,
  ) {
    const b = await this.session(actor, bookingId);
    return this.withMedia(b, (m) => m.consume(actor.id, transportId, producerId, rtpCapabilities));
  }

  async resume(actor: Actor, bookingId: string, consumerId: string) {
    await this.withMedia(await this.session(actor, bookingId), (m) => m.resume(actor.id, consumerId));
  }

  async mute(actor: Actor, bookingId: string, producerId: string, paused: boolean) {
    await this.withMedia(await this.session(actor, bookingId), (m) =>
      paused ? m.pauseProducer(actor.id, producerId) : m.resumeProducer(actor.id, producerId),
    );
  }

  /** The session's booking as it is now (its modality decides what media it carries). */
  private session(actor: Actor, bookingId: string): Promise<Booking> {
    return this.attendance.booking(actor, bookingId);
  }

  /** The media layer's errors carry the same codes as ours; keep them, and their messages, for the client. */
  private async withMedia<T>(b: Booking, fn: (m: MediaSessionPort) => Promise<T>): Promise<T> {
    const m = await this.mediaFor(b);
    try {
      return await fn(m);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (e instanceof Error && e.name === 'MediaError' && typeof code === 'string' && code in ERROR_CODES) {
        throw new AppError(code as ErrorCode, e.message);
      }
      throw e;
    }
  }

  private async mediaFor(b: Booking): Promise<MediaSessionPort> {
    if (b.modality === 'chat')
      throw new AppError('modality_mismatch', 'a chat session has no media; send messages with bookingId');
    let m: MediaSessionPort | undefined;
    try {
      m = await this.media?.get(b.id);
    } catch {
      throw new AppError('media_unavailable', 'the session has no media server; rejoin with live:join');
    }
    if (!m) throw new AppError('media_unavailable', 'the session has no media server; rejoin with live:join');
    return m;
  }

  private async mediaSession(bookingId: string): Promise<MediaSessionPort> {
    // Not `ready`: just after a worker died it is false while the replacement
    // starts, and session() waits for that replacement.
    if (!this.media) throw new AppError('media_unavailable', 'live media is not available on this node');
    try {
      return await this.media.session(bookingId);
    } catch (e) {
      this.log.error({ err: (e as Error).message, bookingId }, 'could not open a media session');
      throw new AppError('media_unavailable', 'live media is not available on this node right now');
    }
  }
}
