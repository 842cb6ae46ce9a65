/**
 * The flags talkroom's server process runs under: `npm start`, the Dockerfile,
 * scripts/check-image.sh, and the tests' and benchmarks' spawned servers all
 * pass them (the first three spell them out; keep them in step).
 *
 * --liftoff-only: the embedded store is PostgreSQL compiled to WebAssembly.
 * V8 compiles it first with its baseline compiler (Liftoff) and later recompiles
 * hot functions with its optimising one (TurboFan), and those recompilations of
 * PostgreSQL's large functions took 400+ MiB for a moment (the first 25 MiB
 * recording after a start: peak RSS 480 → 910 MiB, test/integration/attachments.test.ts)
 * and keep ~60 MiB more resident. Baseline code only: the store serves 13 % fewer
 * statements a second. It touches nothing else: there is no other WebAssembly
 * in the server once it runs.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--liftoff-only'];

/** The flags this process lacks (server/main.ts warns about them when it runs the embedded store). */
export const missingNodeFlags = (): string[] =>
  SERVER_NODE_FLAGS.filter((f) => !process.execArgv.includes(f));
