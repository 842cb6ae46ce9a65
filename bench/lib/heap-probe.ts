/**
 * Loaded into a server under test with `node --expose-gc --import ./bench/lib/heap-probe.ts …`: on
 * SIGUSR2 it collects garbage (twice, so weak references and finalizers settle) and prints one JSON
 * line `{"msg":"bench heap",…}` with the heap figures, which bench/lib/processes.ts reads from stdout.
 * Not for use outside the benchmarks.
 */
const gc = (globalThis as { gc?: () => void }).gc;
process.on('SIGUSR2', () => {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  process.stdout.write(
    `${JSON.stringify({ msg: 'bench heap', heapUsed: m.heapUsed, rss: m.rss, external: m.external, collected: !!gc })}\n`,
  );
});
