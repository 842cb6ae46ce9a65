import type { z } from 'zod';
import * as A from './answers.ts';
import type { Ack } from './errors.ts';
import * as I from './inputs.ts';

/** The message text limit the documents name; the server builds its schema from MESSAGE_MAX_CHARS. */
export const DEFAULT_MESSAGE_MAX_CHARS = 10_000;
export const SendMessageBody = I.sendMessageSchema(DEFAULT_MESSAGE_MAX_CHARS);

/** A request without a payload of its own: nothing, or `{}`. */
export const NoPayload = I.EmptyBody.optional().transform((v) => v ?? {});

/**
 * Every Socket.IO request event (client → server): the schema its payload is
 * validated with, and the schema of the `data` of its `{ ok: true, data }`
 * acknowledgement. The event maps below, the server's handlers, the SDK and
 * the AsyncAPI document all come from this table.
 */
export const requests = {
  'message:send': {
    input: SendMessageBody,
    answer: A.MessageAnswer,
    summary: 'Send a message (idempotent by clientMsgId)',
  },
  'message:history': {
    input: I.HistoryQuery,
    answer: A.HistoryAnswer,
    summary: "A page of a room's messages, newest last",
  },
  'rooms:sync': { input: I.SyncBody, answer: A.SyncAnswer, summary: 'What came after each cursor, per room' },
  'rooms:list': { input: NoPayload, answer: A.RoomsAnswer, summary: 'The rooms the user sees' },
  'message:read': { input: I.ReadBody, answer: A.ReadReceipt, summary: 'Move the read cursor' },
  typing: { input: I.TypingBody, answer: A.Empty, summary: 'Typing or not (not stored)' },
  'auth:refresh': {
    input: I.RefreshBody,
    answer: A.RefreshAnswer,
    summary: 'A fresh token for the same user and role',
  },
  'live:join': {
    input: I.LiveJoinBody,
    answer: A.JoinAnswer,
    summary: 'Join a live session by booking id or join token',
  },
  'live:transport': { input: I.LiveTransportBody, answer: A.TransportAnswer, summary: 'A WebRTC transport' },
  'live:connect': { input: I.LiveConnectBody, answer: A.Empty, summary: 'Connect a transport (DTLS)' },
  'live:restartIce': {
    input: I.LiveRestartIceBody,
    answer: A.RestartIceAnswer,
    summary: 'New ICE parameters for a transport',
  },
  'live:produce': { input: I.LiveProduceBody, answer: A.ProduceAnswer, summary: 'Send a track' },
  'live:consume': {
    input: I.LiveConsumeBody,
    answer: A.ConsumeAnswer,
    summary: 'Receive a producer (created paused)',
  },
  'live:receive': {
    input: I.LiveReceiveBody,
    answer: A.ReceiveAnswer,
    summary: 'Give receive capabilities: the server makes consumers from then on',
  },
  'live:resume': { input: I.LiveResumeBody, answer: A.Empty, summary: 'Resume a consumer' },
  'live:mute': { input: I.LiveMuteBody, answer: A.Empty, summary: 'Pause or resume an own producer' },
  'live:leave': { input: I.LiveSessionBody, answer: A.Empty, summary: 'Leave a live session (it goes on)' },
  'live:end': { input: I.LiveSessionBody, answer: A.Empty, summary: 'End a live session (provider)' },
} as const satisfies Record<string, { input: z.ZodType; answer: z.ZodType; summary: string }>;

/** Every event the server sends on its own (server → client), with its payload's schema. */
export const broadcasts = {
  'message:new': { payload: A.Message, summary: "A message stored in one of the socket's rooms" },
  'message:read': { payload: A.ReadReceipt, summary: 'A member moved their read cursor' },
  typing: { payload: A.TypingEvent, summary: 'A member is typing or stopped' },
  'auth:expired': {
    payload: A.AuthExpiredEvent,
    summary: 'Sent just before a socket whose token expired is closed',
  },
  'room:opened': { payload: A.RoomOpenedEvent, summary: 'The socket now also receives this room' },
  presence: { payload: A.PresenceEvent, summary: 'A member of a room came online or went offline' },
  'live:participant': { payload: A.LiveParticipantEvent, summary: 'The other participant joined or left' },
  'live:started': { payload: A.LiveStartedEvent, summary: 'Both participants are in: the session started' },
  'live:ended': { payload: A.LiveEndedEvent, summary: "The session ended, with the booking's status" },
  'live:producer': { payload: A.LiveProducerEvent, summary: 'The other side sends a new track: consume it' },
  'live:consumer': {
    payload: A.LiveConsumerEvent,
    summary: 'The server made a consumer of the other side’s new track: receive it',
  },
  'live:rejoin': {
    payload: A.LiveRejoinEvent,
    summary: 'live:join again (media server restarted, or superseded by a newer socket)',
  },
} as const satisfies Record<string, { payload: z.ZodType; summary: string }>;

export type RequestEvent = keyof typeof requests;
/** What a client sends: the schema's parsed type (coerced numbers are numbers). */
export type RequestInput<E extends RequestEvent> = z.output<(typeof requests)[E]['input']>;
export type RequestAnswer<E extends RequestEvent> = z.output<(typeof requests)[E]['answer']>;
export type BroadcastEvent = keyof typeof broadcasts;
export type BroadcastPayload<E extends BroadcastEvent> = z.output<(typeof broadcasts)[E]['payload']>;

/** Socket.IO's client → server map: every event takes its payload and an acknowledgement callback. */
export type ClientToServerEvents = {
  [E in RequestEvent]: (payload: RequestInput<E>, ack: (res: Ack<RequestAnswer<E>>) => void) => void;
};

/** Socket.IO's server → client map. */
export type ServerToClientEvents = {
  [E in BroadcastEvent]: (payload: BroadcastPayload<E>) => void;
};
