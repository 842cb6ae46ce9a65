import fc from 'fast-check';

/**
 * What the fuzzers send: JSON values that are wrong in every way a client can
 * make them wrong, and valid payloads with a few fields dropped, replaced or
 * added. Large and deep values print compactly in a counterexample.
 */

/** In every generated free text: an error message that repeats it has echoed a client's value. */
export const MARK = 'private words';

/** A long string, built only when sent. */
export class Huge {
  readonly unit: string;
  readonly count: number;
  constructor(unit: string, count: number) {
    this.unit = unit;
    this.count = count;
  }
  get value(): string {
    return this.unit.repeat(this.count);
  }
  toJSON(): string {
    return this.value;
  }
  [fc.toStringMethod](): string {
    return `${JSON.stringify(this.unit)}.repeat(${this.count})`;
  }
}

/**
 * JSON text spliced in as it is: nestings that JSON.stringify (and
 * socket.io-client's encoder) cannot produce without running out of stack,
 * and numbers JSON.stringify cannot write (-0, 1e400 that parses to Infinity).
 */
export class Raw {
  readonly label: string;
  readonly text: () => string;
  constructor(label: string, text: () => string) {
    this.label = label;
    this.text = text;
  }
  [fc.toStringMethod](): string {
    return `Raw(${this.label})`;
  }
}

const deep = (open: string, close: string, depth: number, leaf = '0') =>
  new Raw(`${open}×${depth}`, () => open.repeat(depth) + leaf + close.repeat(depth));

/** JSON text for a value that may hold Huge and Raw parts. */
export function encode(value: unknown): string {
  const raws: string[] = [];
  const json = JSON.stringify(value, (_key, v) => {
    if (v instanceof Raw) {
      raws.push(v.text());
      return `\u0001raw${raws.length - 1}\u0001`;
    }
    return v;
  });
  if (json === undefined) return 'null';
  return raws.length ? json.replace(/"\\u0001raw(\d+)\\u0001"/g, (_m, i: string) => raws[Number(i)]!) : json;
}

/** An object with exactly these own keys, `__proto__` included. */
export function own(entries: Iterable<[string, unknown]>): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries)
    Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

export const oddStrings = fc.constantFrom(
  '',
  ' ',
  '\t\n ',
  '\u0000',
  `${MARK}\u0000`,
  `${MARK} \uD800`,
  '\uDFFF',
  `${MARK} \uDBFF\uDFFF`,
  '\uFEFF',
  `\u202E${MARK}`,
  '%FF',
  '%',
  '..',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  "'; DROP TABLE messages; --",
  '<script>alert(1)</script>',
  'null',
  'NaN',
  '-0',
  'Infinity',
  '*',
);

const hugeStrings = fc
  .constantFrom(64, 65, 128, 129, 200, 201, 500, 501, 4096, 4097, 8193, 10_000, 10_001, 70_000, 300_000)
  .chain((n) =>
    fc.constantFrom(
      new Huge('a', n),
      new Huge('\u{1F600}', Math.ceil(n / 2)),
      new Huge(`${MARK} `, Math.ceil(n / 14)),
      new Huge('\u0000', n),
      new Huge('\uD800', n),
    ),
  );

/** Instants and dates: valid, impossible, out of range and not dates at all. */
export const instants = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '2026-11-18T15:00:00.000Z',
      '2026-11-18T14:00:00Z',
      '2026-11-18T10:00:00-05:00',
      '2026-11-18T15:00:00+23:59',
      '2026-11-18T15:00:00.123456789Z',
      '2026-11-16T12:00:00Z',
      '1970-01-01T00:00:00Z',
      '0000-01-01T00:00:00Z',
      '0001-01-01T00:00:00Z',
      '9999-12-31T23:59:59.999Z',
      '9999-12-31T23:59:59-23:59',
      '+275760-09-13T00:00:00Z',
      '2026-02-30T10:00:00Z',
      '2026-11-18T24:00:00Z',
      '2026-11-18',
      '2026-11-18T15:00:00',
      'tomorrow',
      '',
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .date({
        min: new Date('1970-01-01T00:00:00Z'),
        max: new Date('9999-12-31T23:59:59Z'),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString()),
  },
);
export const dates = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '2026-11-01',
      '2024-02-29',
      '2026-02-29',
      '0000-01-01',
      '0001-01-01',
      '9999-12-31',
      '2026-13-01',
      '',
    ),
  },
  {
    weight: 1,
    arbitrary: fc
      .date({
        min: new Date('0000-01-01T00:00:00Z'),
        max: new Date('9999-12-31T00:00:00Z'),
        noInvalidDate: true,
      })
      .map((d) => d.toISOString().slice(0, 10)),
  },
);

export const strings = fc.oneof(
  { weight: 3, arbitrary: oddStrings },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }).map((s) => `${MARK} ${s}`) },
  { weight: 1, arbitrary: hugeStrings },
  { weight: 1, arbitrary: instants },
  { weight: 1, arbitrary: dates },
);

export const numbers = fc.oneof(
  fc.constantFrom(
    0,
    1,
    -1,
    0.5,
    14,
    15,
    20,
    21,
    50,
    200,
    201,
    240,
    241,
    500,
    1000,
    1001,
    2 ** 31 - 1,
    2 ** 31,
    2 ** 32,
    2 ** 53 - 1,
    2 ** 53 + 1,
    1e308,
    -1e308,
    5e-324,
    Number.MAX_VALUE,
  ),
  fc.constantFrom(
    new Raw('-0', () => '-0'),
    new Raw('1e400', () => '1e400'),
    new Raw('-1e400', () => '-1e400'),
    new Raw('9007199254740993', () => '9007199254740993'),
    new Raw('1.0', () => '1.0'),
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** Nestings and widths past every limit. */
export const shapes = fc.constantFrom(
  deep('[', ']', 11),
  deep('[', ']', 10_000),
  deep('{"a":', '}', 10_000),
  deep('{"__proto__":', '}', 1_000),
  deep('[', ']', 60_000),
  new Raw('10,000 zeros', () => `[${Array(10_000).fill(0).join(',')}]`),
  new Raw('2,000 keys', () => `{${Array.from({ length: 2_000 }, (_, i) => `"k${i}":${i}`).join(',')}}`),
);

export const keys = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'toString',
    '',
    '\u0000',
    MARK,
    'a'.repeat(65),
    '\uD800',
  ),
  fc.string({ maxLength: 8 }),
);

/** Any JSON-ish value, wrong for most fields. */
export const values: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    strings,
    numbers,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.array(fc.tuple(keys, tie('v')), { maxLength: 4 }).map(own),
    shapes,
  ),
})).v;

type Mutation =
  | { op: 'drop'; i: number }
  | { op: 'set'; i: number; v: unknown }
  | { op: 'extra'; k: string; v: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('drop' as const), i: fc.nat() }),
  { weight: 3, arbitrary: fc.record({ op: fc.constant('set' as const), i: fc.nat(), v: values }) },
  fc.record({ op: fc.constant('extra' as const), k: keys, v: values }),
);

function mutate(valid: unknown, mutations: Mutation[]): unknown {
  if (typeof valid !== 'object' || valid === null) return valid;
  const o = new Map(Object.entries(valid));
  const names = Object.keys(valid);
  for (const m of mutations) {
    if (m.op === 'extra') o.set(m.k, m.v);
    else if (names.length) {
      const name = names[m.i % names.length]!;
      if (m.op === 'drop') o.delete(name);
      else o.set(name, m.v);
    }
  }
  return own(o);
}

/** Text no database column holds: NUL, unpaired surrogate halves; and over-long ids. */
export const unstorable = fc.oneof(
  fc.constantFrom(
    `${MARK}\u0000`,
    `${MARK} \uD800`,
    '\uDFFF',
    `${MARK} \uDC00\uD800`,
    '\u0000',
    'x'.repeat(129),
  ),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }).map((s) => `${MARK} ${s}\u0000`),
);

/** Free text: readable, then text the store cannot hold, then anything odd. */
export const freeText = fc.oneof(
  { weight: 6, arbitrary: fc.string({ minLength: 1, maxLength: 30 }).map((s) => `${MARK} ${s}`) },
  { weight: 1, arbitrary: unstorable },
  { weight: 1, arbitrary: strings },
);

/**
 * The valid payload with one of its strings (at any depth, or a key) replaced
 * by text no store holds: every free-text field and id meets NUL and lone
 * surrogates with everything around it valid.
 */
export function withUnstorable(valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.tuple(valid, fc.nat(), unstorable, fc.boolean()).map(([v, i, bad, asKey]) => {
    const spots: Array<{ parent: Record<string, unknown> | unknown[]; key: string | number }> = [];
    const walk = (x: unknown, depth: number) => {
      if (depth > 6 || typeof x !== 'object' || x === null || x instanceof Raw || x instanceof Huge) return;
      for (const [k, child] of Object.entries(x)) {
        const key = Array.isArray(x) ? Number(k) : k;
        if (typeof child === 'string' || !Array.isArray(x))
          spots.push({ parent: x as Record<string, unknown>, key });
        walk(child, depth + 1);
      }
    };
    const copy = clone(v);
    walk(copy, 0);
    const spot = spots[i % Math.max(1, spots.length)];
    if (!spot) return bad;
    const { parent, key } = spot;
    if (asKey && !Array.isArray(parent)) {
      const value = parent[key as string];
      delete parent[key as string];
      Object.defineProperty(parent, bad, { value, enumerable: true, writable: true, configurable: true });
    } else (parent as Record<string | number, unknown>)[key] = bad;
    return copy;
  });
}

/** A deep copy of plain objects and arrays; Huge, Raw and the rest are kept as they are. */
function clone(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clone);
  if (typeof v !== 'object' || v === null) return v;
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return v;
  return own(Object.entries(v).map(([k, x]) => [k, clone(x)]));
}

/** Mostly near-valid: a valid payload as it is, with one or two fields broken, or something else entirely. */
export function payloads(valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: valid },
    {
      weight: 5,
      arbitrary: fc
        .tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 2 }))
        .map(([v, m]) => mutate(v, m)),
    },
    { weight: 2, arbitrary: withUnstorable(valid) },
    { weight: 1, arbitrary: values },
  );
}

/** A field's valid values, and now and then an odd one of its kind (a date field gets odd dates). */
export function sometimes<T>(valid: fc.Arbitrary<T>, odd: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: odd });
}

/** A string as text, if it is one (Huge included). */
export const asText = (v: unknown): string | undefined =>
  typeof v === 'string' ? v : v instanceof Huge ? v.value : undefined;
