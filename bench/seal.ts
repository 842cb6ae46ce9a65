/**
 * Micro-benchmark: what encryption at rest adds to one message on the hot
 * path — sealing its text (and, for bots' messages, its meta) before the
 * append statement. The messaging benchmark measures whole round trips on a
 * server; this isolates the seal, which is all the append path adds.
 *
 *   node bench/seal.ts            (BENCH_SEAL_N: messages per size, 200000)
 */
import { randomBytes } from 'node:crypto';
import { Keyring } from '../src/privacy/keyring.ts';
import { metaAad, textAad } from '../src/store/messages.ts';

const N = Number(process.env.BENCH_SEAL_N ?? 200_000);
const keys = new Keyring([{ kid: 'bench', key: randomBytes(32) }]);

function measure(label: string, fn: (i: number) => void): void {
  for (let i = 0; i < 10_000; i++) fn(i); // warm
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - t0) / N;
  console.log(
    `${label.padEnd(44)} ${(ns / 1000).toFixed(2)} µs/message  (${Math.round(1e9 / ns)}/s on one core)`,
  );
}

for (const chars of [40, 400, 4000]) {
  const text = 'x'.repeat(chars);
  const id = 'msg-0123456789abcdef';
  measure(`seal text of ${chars} chars`, () => keys.sealText(text, textAad(id)));
  const sealed = keys.sealText(text, textAad(id));
  measure(`open text of ${chars} chars`, () => keys.openText('bench', sealed, textAad(id)));
}
const meta = { event: 'reminder', bookingId: 'b-0123456789', startsAt: '2026-12-01T10:00:00Z' };
measure('seal meta (small object)', () => keys.sealText(JSON.stringify(meta), metaAad('msg-1')));
