import { Parser } from '@asyncapi/parser';
import { validate } from '@readme/openapi-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { broadcasts, requests } from '../../protocol/events.ts';
import { createHttpApp, type HttpDeps } from '../../src/http/app.ts';
import { embedded } from '../helpers/backends.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';

/**
 * GET /v1/openapi.json and GET /v1/asyncapi.json, generated from the contract:
 * valid by real validators, and matching what the server serves — every route
 * Express has and every socket event a connection handles is documented, and
 * nothing documented is missing from the server.
 */

interface Layer {
  name: string;
  rawPath?: string;
  route?: { path: string; methods: Record<string, boolean> };
  handle: { stack?: Layer[] };
}

/** Every `METHOD /path` the Express app routes, with `:param` written as OpenAPI's `{param}`. */
function expressRoutes(stack: Layer[], prefix = ''): string[] {
  const out: string[] = [];
  for (const layer of stack) {
    if (layer.route) {
      for (const [method, on] of Object.entries(layer.route.methods)) {
        if (!on || method === '_all') continue;
        out.push(`${method} ${(prefix + layer.route.path).replace(/:(\w+)/g, '{$1}')}`);
      }
    } else if (layer.name === 'router' && layer.handle.stack) {
      const mount = layer.rawPath && layer.rawPath !== '/' ? layer.rawPath : '';
      out.push(...expressRoutes(layer.handle.stack, prefix + mount));
    }
  }
  return out;
}

describe('the API descriptions', () => {
  let s: TestServer;
  beforeAll(async () => {
    s = await startTestServer({ backend: embedded });
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('GET /v1/openapi.json is valid OpenAPI 3.1 and documents exactly the routes Express serves', async () => {
    const res = await s.api('GET', '/v1/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(doc));
    expect(result).toMatchObject({ valid: true });

    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`))
      .sort();
    // The app server/main.ts serves, made by the same function from the same settings (its routes do not depend
    // on the services, which are only called per request).
    const app = createHttpApp({ config: s.config } as HttpDeps) as unknown as { router: { stack: Layer[] } };
    const served = [...new Set(expressRoutes(app.router.stack))].sort();
    expect(served.length).toBeGreaterThan(20);
    expect(documented).toEqual(served);

    // Bodies, answers and errors are there, from the schemas.
    const send = doc.paths['/v1/rooms/{id}/messages'].post;
    expect(send.requestBody.content['application/json'].schema.properties.kind.enum).toContain('text');
    expect(send.responses['201'].content['application/json'].schema.properties.message.required).toContain(
      'seq',
    );
    expect(send.responses['403']).toEqual({ $ref: '#/components/responses/Error' });
    expect(doc.components.schemas.Error.properties.error.properties.code.enum).toContain('no_credit');
  });

  it('GET /v1/asyncapi.json is valid AsyncAPI 3 and documents exactly the events a socket handles', async () => {
    const res = await s.api('GET', '/v1/asyncapi.json');
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.asyncapi).toBe('3.0.0');
    const { document, diagnostics } = await new Parser().parse(JSON.stringify(doc));
    expect(diagnostics.filter((d) => d.severity === 0)).toEqual([]);
    expect(document).toBeDefined();

    // What the server handles, asked of a real connection: every documented
    // request is answered by its handler (here: its schema refusing a bogus
    // input), and an undocumented event gets the unknown-event answer.
    const socket = await s.connect(s.token('client-1', 'client'));
    const ops = Object.values(
      doc.operations as Record<string, { action: string; title: string; reply?: unknown }>,
    );
    const received = ops
      .filter((o) => o.action === 'receive')
      .map((o) => o.title)
      .sort();
    // Any event name, so not the typed request helper.
    const unknown = async (event: string) => {
      const a: { ok: boolean; error?: { message?: string } } = await socket
        .timeout(10_000)
        .emitWithAck(event, { bogus: true });
      return !a.ok && (a.error?.message ?? '').startsWith('no such event');
    };
    for (const event of received) expect([event, await unknown(event)]).toEqual([event, false]);
    expect(await unknown('rooms:frobnicate')).toBe(true);
    expect(received).toEqual(Object.keys(requests).sort());
    expect(ops.filter((o) => o.action === 'receive').every((o) => o.reply)).toBe(true);
    // Every broadcast (emits are typed from the same table, so tsc refuses one that is not in it).
    const sent = ops
      .filter((o) => o.action === 'send')
      .map((o) => o.title)
      .sort();
    expect(sent).toEqual(Object.keys(broadcasts).sort());
    expect(doc.components.messages['live.ended.broadcast'].payload.properties.status.enum).toContain(
      'completed',
    );
  });
});
