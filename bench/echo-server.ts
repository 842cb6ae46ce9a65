/**
 * The baseline for bench/messaging.ts: a bare Socket.IO server that does the
 * network half of a talkroom message and nothing else. A client emits
 * `message:send` with an ack; the server builds a message of the same shape
 * and size talkroom stores (id, seq, sender, kind, text, clientMsgId,
 * createdAt), acks it and emits `message:new` to the other socket of the pair.
 * No authentication per message, no validation, no storage: the difference
 * between this and talkroom is what talkroom itself costs.
 *
 * Sockets say which pair they belong to in the handshake (`auth.room`, the
 * same field the benchmark sends to talkroom, which ignores it). Same
 * Socket.IO server options as signaling/server.ts createIo.
 *
 * Prints one JSON line `{"msg":"echo listening","port":…}` on stdout.
 * Env: PORT (default 0), HOST (default 127.0.0.1).
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';

const http = createServer();
const io = new Server(http, {
  maxHttpBufferSize: 256 * 1024,
  pingInterval: 20_000,
  pingTimeout: 20_000,
});

const seqs = new Map<string, number>();

io.on('connection', (socket) => {
  const auth = socket.handshake.auth as { room?: unknown; token?: unknown } | undefined;
  const room = typeof auth?.room === 'string' ? auth.room : 'lobby';
  const channel = `room:${room}`;
  socket.join(channel);
  socket.on('message:send', (payload: any, ack?: (res: unknown) => void) => {
    const seq = (seqs.get(room) ?? 0) + 1;
    seqs.set(room, seq);
    const message = {
      id: randomUUID(),
      roomId: payload?.roomId,
      seq,
      senderId: socket.id,
      senderRole: 'client',
      kind: payload?.kind,
      createdAt: new Date().toISOString(),
      text: payload?.text,
      clientMsgId: payload?.clientMsgId,
    };
    if (typeof ack === 'function') ack({ ok: true, data: { message } });
    socket.to(channel).emit('message:new', message);
  });
});

http.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  const { port } = http.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ msg: 'echo listening', port, pid: process.pid })}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    io.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
