import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The id of the request being served (REST: its X-Request-Id; a socket
 * request: its connection's handshake id), carried across awaits so records
 * written deep below — audit entries — name the request that caused them
 * without every service passing it along.
 */
const current = new AsyncLocalStorage<{ requestId: string }>();

export function withRequestId<T>(requestId: string, fn: () => T): T {
  return current.run({ requestId }, fn);
}

export function currentRequestId(): string | undefined {
  return current.getStore()?.requestId;
}
