/**
 * Loaded into a server under test with `node --expose-gc --import ./bench/lib/heap-probe.ts …`: on
 * SIGUSR2 it collects garbage (twice, so weak references and finalizers settle) and prints one JSON
 * line `{"msg":"bench heap",…}` with the heap figures, which bench/lib/processes.ts reads from stdout.
 * With BENCH_HEAP_SNAPSHOTS=<dir> it also writes a heap snapshot there at each reading (its path is
 * in the line), for bench/lib/heap-diff.ts to compare. Not for use outside the benchmarks.
 */
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';

const gc = (globalThis as { gc?: () => void }).gc;
const snapshots = process.env.BENCH_HEAP_SNAPSHOTS;
let readings = 0;
process.on('SIGUSR2', () => {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  readings++;
  const snapshot = snapshots
    ? writeHeapSnapshot(join(snapshots, `heap-${process.pid}-${readings}.heapsnapshot`))
    : undefined;
  process.stdout.write(
    `${JSON.stringify({ msg: 'bench heap', heapUsed: m.heapUsed, rss: m.rss, external: m.external, collected: !!gc, snapshot })}\n`,
  );
});
