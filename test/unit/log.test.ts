import { Writable } from 'node:stream';
import { PGlite } from '@electric-sql/pglite';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';

/** What a failed statement logs: the error, never the values it was storing. */
describe('error logging', () => {
  it('drops the parameters and quoted values a database error carries', async () => {
    const db = await PGlite.create();
    await db.exec('CREATE TABLE t (n integer, s text NOT NULL)');
    const secret = 'my panic attacks started again';
    const err = await db.query('INSERT INTO t (n, s) VALUES ($1, $2)', [`${secret}`, secret]).catch((e) => e);
    await db.close();
    expect(JSON.stringify(err, Object.getOwnPropertyNames(err))).toContain('panic'); // it is in the raw error
    let out = '';
    const sink = new Writable({
      write(chunk, _enc, done) {
        out += chunk;
        done();
      },
    });
    createLogger('error', sink).error({ err }, 'request failed');
    expect(out).toContain('request failed');
    expect(out).toContain('"code":"22P02"');
    expect(out).not.toContain('panic');
  });
});
