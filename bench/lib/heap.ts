/** A server's heap after a full collection, asked for through bench/lib/heap-probe.ts. */
import type { LogRecord, ServerProc } from './processes.ts';

/** Node flags that load the probe into a server. */
export const HEAP_PROBE_ARGS = ['--expose-gc', '--import', './bench/lib/heap-probe.ts'];

export interface HeapReading {
  heapUsed: number;
  rss: number;
  external: number;
  collected: boolean;
  /** With BENCH_HEAP_SNAPSHOTS: the heap snapshot written at this reading. */
  snapshot?: string;
}

/** Collects the readings the probe prints; pass `onRecord` to spawnServer, then call `read(server)`. */
export class HeapReader {
  #waiting: ((r: HeapReading) => void) | undefined;
  readonly onRecord = (rec: LogRecord) => {
    if (rec.msg !== 'bench heap') return;
    this.#waiting?.(rec as unknown as HeapReading);
    this.#waiting = undefined;
  };
  read(s: ServerProc): Promise<HeapReading> {
    return new Promise((resolve, reject) => {
      // Writing a snapshot of a large heap takes a while longer than a collection.
      const wait = process.env.BENCH_HEAP_SNAPSHOTS ? 600 : 30;
      const t = setTimeout(() => reject(new Error(`no heap reading within ${wait} s`)), wait * 1000);
      this.#waiting = (r) => {
        clearTimeout(t);
        resolve(r);
      };
      s.proc.kill('SIGUSR2');
    });
  }
}
