/**
 * How a node tells the schedulers that jobs were added, so they look again
 * before their next known job is due. One node on its own wakes its own
 * scheduler; a cluster (cluster/scheduler-wake.ts) wakes every node's over
 * Redis, since the job may be for any of them.
 */
export interface SchedulerWake {
  /** Jobs were added (or moved): every scheduler should look again. */
  notify(): void;
  /** Called on each wake-up, this node's own included. */
  onWake(fn: () => void): void;
  close(): Promise<void>;
}

export function localWake(): SchedulerWake {
  const listeners: Array<() => void> = [];
  return {
    notify: () => {
      for (const fn of listeners) fn();
    },
    onWake: (fn) => {
      listeners.push(fn);
    },
    close: async () => {},
  };
}
