/**
 * @talkroom/client — the talkroom SDK for browsers and Node. Its types come
 * from the contract (protocol/): requests, answers, events and error codes.
 */
export type { Booking, JoinAnswer, Message, RoomView } from '../../protocol/answers.ts';
export { ERROR_CODES, type ErrorCode } from '../../protocol/errors.ts';
export type {
  BroadcastEvent,
  BroadcastPayload,
  ClientToServerEvents,
  RequestAnswer,
  RequestEvent,
  RequestInput,
  ServerToClientEvents,
} from '../../protocol/events.ts';
export { type ClientEvents, type SendInput, TalkroomClient, type TalkroomClientOptions } from './client.ts';
export { isTalkroomError, TalkroomError } from './errors.ts';
export {
  type Kind,
  type LiveEvents,
  type LiveOptions,
  type LiveRef,
  LiveSession,
  type LiveStatus,
  type RemoteTrack,
  type Source,
} from './live.ts';
