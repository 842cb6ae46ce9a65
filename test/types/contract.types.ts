/**
 * Type-level tests of the contract, checked by `tsc --noEmit` (this file is in
 * tsconfig's include and never run): each `@ts-expect-error` line is a wrong
 * payload or acknowledgement that must not compile. Were it to compile, the
 * unused directive itself fails `tsc`.
 */
import type { Socket as ClientSocket } from 'socket.io-client';
import type { ClientToServerEvents, ServerToClientEvents } from '../../protocol/index.ts';
import type { IoServer } from '../../signaling/room-events.ts';
import type { Handle } from '../../signaling/server.ts';

declare const handle: Handle;
declare const io: IoServer;
declare const client: ClientSocket<ServerToClientEvents, ClientToServerEvents>;

// ---- server: a handler's answer is the contract's for its event -------------------

handle('message:read', async (i) => ({ roomId: i.roomId, userId: 'u1', seq: i.seq }));
// @ts-expect-error the read receipt lacks userId
handle('message:read', async (i) => ({ roomId: i.roomId, seq: i.seq }));
// @ts-expect-error live:produce answers { producerId }, not a consumer
handle('live:produce', async () => ({ consumerId: 'c1' }));
// @ts-expect-error rooms:sync answers messages per room, not a flat list
handle('rooms:sync', async () => ({ messages: [], hasMore: {} }));
handle('typing', async (i) => {
  // @ts-expect-error the typing payload has no text
  void i.text;
  return {};
});
handle('live:join', async (ref) => ({
  bookingId: 'bookingId' in ref ? ref.bookingId : 'b1',
  modality: 'video',
  status: 'waiting',
  participants: [],
}));
// @ts-expect-error a modality the contract does not know
handle('live:join', async () => ({
  bookingId: 'b1',
  modality: 'hologram',
  status: 'waiting',
  participants: [],
}));

// ---- server: a broadcast's payload is the contract's ------------------------------

io.emit('live:ended', { bookingId: 'b1', status: 'completed' });
// @ts-expect-error live:ended carries a booking status, not any string
io.emit('live:ended', { bookingId: 'b1', status: 'done' });
// @ts-expect-error a message without seq
io.to('room:r1').emit('message:new', {
  id: 'm1',
  roomId: 'r1',
  senderId: 'u1',
  senderRole: 'client',
  kind: 'text',
  createdAt: '2026-01-01T00:00:00.000Z',
});
// @ts-expect-error no such server event
io.emit('message:deleted', { id: 'm1' });

// ---- client: a request's payload and acknowledgement ------------------------------

client.emit('message:send', { roomId: 'r1', clientMsgId: 'c1', kind: 'text', text: 'hi' }, (res) => {
  if (res.ok) void res.data.message.seq;
  else void res.error.code;
});
// @ts-expect-error a message kind the contract does not know
client.emit('message:send', { roomId: 'r1', clientMsgId: 'c1', kind: 'shout', text: 'hi' }, () => {});
// @ts-expect-error message:history needs a roomId
client.emit('message:history', { limit: 10 }, () => {});
client.emit('rooms:sync', { cursors: { r1: 3 } }, (res) => {
  // @ts-expect-error rooms:sync answers messages and hasMore, not rooms
  if (res.ok) void res.data.rooms;
});
client.emit(
  'live:consume',
  { bookingId: 'b1', transportId: 't1', producerId: 'p1', rtpCapabilities: {} },
  (res) => {
    // @ts-expect-error a consumer's kind is audio or video, never a number
    if (res.ok) res.data.kind satisfies number;
  },
);
client.emit('message:read', { roomId: 'r1', seq: 2 }, (res) => {
  // @ts-expect-error an error code outside the contract's list
  if (!res.ok && res.error.code === 'teapot') return;
});

// ---- client: server events ----------------------------------------------------------

client.on('live:producer', (ev) => {
  ev.kind satisfies 'audio' | 'video';
});
client.on('message:new', (m) => {
  m.seq satisfies number;
  // @ts-expect-error a message has no body field (its text is `text`)
  void m.body;
});
// @ts-expect-error live:connect answers {} and nothing else
handle('live:connect', async () => ({ connected: true }));

// ---- booking requests and tickets ------------------------------------------------

client.emit(
  'message:send',
  { roomId: 'r1', clientMsgId: 'c1', kind: 'request', bookingId: 'b1', request: 'reschedule' },
  () => {},
);
client.emit(
  'message:send',
  // @ts-expect-error a booking request is cancel or reschedule, nothing else
  { roomId: 'r1', clientMsgId: 'c1', kind: 'request', bookingId: 'b1', request: 'refund' },
  () => {},
);
client.emit(
  'message:send',
  { roomId: 'r1', clientMsgId: 'c1', kind: 'text', text: 'hi', internal: true },
  () => {},
);
client.on('message:new', (m) => {
  m.internal satisfies true | undefined;
  m.request satisfies 'cancel' | 'reschedule' | undefined;
});
client.emit('rooms:list', {}, (res) => {
  if (res.ok) res.data.rooms[0]?.ticket?.status satisfies 'open' | 'pending' | 'resolved' | undefined;
  // @ts-expect-error a ticket's assignee is one id, not a list
  if (res.ok) res.data.rooms[0]?.ticket?.assigneeId satisfies string[] | undefined;
});
