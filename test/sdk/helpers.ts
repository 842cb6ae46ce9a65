import { type Message, TalkroomClient, type TalkroomClientOptions } from '@talkroom/client';
import type { Transport } from '../helpers/server.ts';

/** An SDK client for the tests: default transports or WebSocket only, closed by `closeAll`. */
export function sdk(
  url: string,
  transport: Transport,
  o: Omit<TalkroomClientOptions, 'url'>,
  opened: TalkroomClient[],
): TalkroomClient {
  const c = new TalkroomClient({
    url,
    requestTimeoutMs: 30_000,
    ...o,
    socket: {
      forceNew: true,
      ...(transport === 'websocket' ? { transports: ['websocket'] } : {}),
      ...o.socket,
    },
  });
  opened.push(c);
  return c;
}

export function closeAll(opened: TalkroomClient[]): void {
  for (const c of opened.splice(0)) c.close();
}

/** Everything the application is handed on the `message` stream, in the order it was handed. */
export function stream(c: TalkroomClient): Message[] {
  const seen: Message[] = [];
  c.on('message', (m) => seen.push(m));
  return seen;
}

/** Resolves once `check` holds, tested after each event of the client (and now); no polling on a timer. */
export function until(c: TalkroomClient, check: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (check()) return resolve();
    const offs = (['message', 'connected', 'caughtUp', 'disconnected', 'tokenRefreshed'] as const).map((e) =>
      c.on(e, () => {
        if (!check()) return;
        for (const off of offs) off();
        resolve();
      }),
    );
  });
}

export function once<E extends 'connected' | 'disconnected' | 'caughtUp' | 'tokenRefreshed'>(
  c: TalkroomClient,
  event: E,
): Promise<void> {
  return new Promise((resolve) => {
    const off = c.on(event, () => {
      off();
      resolve();
    });
  });
}

/** The seqs of one room's messages as the application saw them. */
export const seqsOf = (seen: Message[], roomId: string) =>
  seen.filter((m) => m.roomId === roomId).map((m) => m.seq);

export const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
