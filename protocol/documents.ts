import { z } from 'zod';
import { broadcasts, requests } from './events.ts';
import { ErrorAnswer, type Route, routes } from './rest.ts';

/**
 * The API descriptions, generated from the contract's schemas with zod's own
 * JSON Schema output (`z.toJSONSchema`): OpenAPI 3.1 for the REST routes,
 * AsyncAPI 3.0 for the Socket.IO events. Nothing here is written by hand but
 * the prose; a schema change changes the documents.
 */

type Json = Record<string, unknown>;

/** The version the documents carry: the API's (its paths are /v1). */
export const API_VERSION = '1.0.0';

/** A schema as JSON Schema, as the client must send it (input) or will receive it (output). */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output', target: 'draft-2020-12' | 'draft-7'): Json {
  // Refinements (Text's storability, working hours) have no JSON Schema form: the server still checks them.
  const out = z.toJSONSchema(schema, { io, target, unrepresentable: 'any' }) as Json;
  delete out.$schema;
  return out;
}

const ERROR_REF = { $ref: '#/components/responses/Error' };
const ERROR_STATUS: Record<string, string> = {
  '400': 'invalid_input, modality_mismatch',
  '401': 'unauthenticated, token_expired',
  '403': 'forbidden and the rule codes (no_credit is 409)',
  '404': 'not_found',
  '409': 'conflict, no_credit, session_already_started',
  '413': 'payload_too_large',
  '429': 'rate_limited (with Retry-After)',
  '503': 'unavailable, media_unavailable',
};

function parameters(route: Route): Json[] {
  const out: Json[] = [];
  for (const [where, schema] of [
    ['path', route.params],
    ['query', route.query],
  ] as const) {
    if (!schema) continue;
    const s = jsonSchema(schema, 'input', 'draft-2020-12') as { properties?: Json; required?: string[] };
    for (const [name, prop] of Object.entries(s.properties ?? {})) {
      out.push({
        name,
        in: where,
        required: where === 'path' || (s.required ?? []).includes(name),
        schema: prop,
      });
    }
  }
  return out;
}

function operation(route: Route): Json {
  const responses: Json = {};
  for (const [status, answer] of Object.entries(route.answers)) {
    if (answer instanceof z.ZodType) {
      responses[status] = {
        description: route.summary,
        content: { 'application/json': { schema: jsonSchema(answer, 'output', 'draft-2020-12') } },
      };
    } else {
      responses[status] = { description: answer.description, content: { [answer.type]: { schema: {} } } };
    }
  }
  const errors = new Set<string>(['429', '503']);
  if (route.params || route.query || route.body || route.rawBody) errors.add('400');
  if (route.auth !== 'none') errors.add('401');
  if (route.auth !== 'none' && route.auth !== 'metrics') errors.add('403');
  if (route.params) errors.add('404');
  if (route.method !== 'get') errors.add('409');
  if (route.body || route.rawBody) errors.add('413');
  for (const status of [...errors].sort()) if (!responses[status]) responses[status] = ERROR_REF;
  responses.default = ERROR_REF;

  const op: Json = {
    operationId: `${route.method}${route.path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase())}`,
    summary: route.summary,
    security: route.auth === 'none' ? [] : [{ bearer: [] }],
    responses,
  };
  if (Array.isArray(route.auth)) op.description = `Roles: ${route.auth.join(', ')}.`;
  const params = parameters(route);
  if (params.length) op.parameters = params;
  if (route.body) {
    op.requestBody = {
      required: true,
      content: { 'application/json': { schema: jsonSchema(route.body, 'input', 'draft-2020-12') } },
    };
  } else if (route.rawBody) {
    op.requestBody = { required: true, description: route.rawBody, content: { '*/*': { schema: {} } } };
  }
  return op;
}

export function openApiDocument(o: { version: string; serverUrl?: string }): Json {
  const paths: Record<string, Json> = {};
  for (const route of routes) {
    paths[route.path] ??= {};
    paths[route.path]![route.method] = operation(route);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'talkroom REST API',
      version: o.version,
      description:
        'Rooms, messages, bookings, credits and provisioning. Every error answers ' +
        '`{ "error": { "code", "message" } }`; the codes are listed in the Error schema.',
    },
    ...(o.serverUrl ? { servers: [{ url: o.serverUrl }] } : {}),
    paths,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { Error: jsonSchema(ErrorAnswer, 'output', 'draft-2020-12') },
      responses: {
        Error: {
          description: Object.entries(ERROR_STATUS)
            .map(([s, codes]) => `${s}: ${codes}`)
            .join('; '),
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        },
      },
    },
  };
}

/** AsyncAPI keys allow letters, digits, `.`, `-` and `_`: `message:send` becomes `message.send`. */
const key = (event: string) => event.replace(/[^A-Za-z0-9._-]/g, '.');

const ackSchema = (data: Json): Json => ({
  oneOf: [
    { type: 'object', properties: { ok: { const: true }, data }, required: ['ok', 'data'] },
    {
      type: 'object',
      properties: { ok: { const: false }, error: jsonSchema(ErrorAnswer.shape.error, 'output', 'draft-7') },
      required: ['ok', 'error'],
    },
  ],
});

export function asyncApiDocument(o: { version: string; host?: string }): Json {
  const messages: Record<string, Json> = {};
  const operations: Record<string, Json> = {};
  const channelMessages: Record<string, Json> = {};
  const channel = { $ref: '#/channels/socket' };
  for (const [event, r] of Object.entries(requests)) {
    const k = key(event);
    messages[k] = {
      name: event,
      title: event,
      summary: r.summary,
      payload: jsonSchema(r.input, 'input', 'draft-7'),
    };
    messages[`${k}.ack`] = {
      name: `${event} acknowledgement`,
      summary: `The acknowledgement of ${event}: { ok: true, data } or { ok: false, error }`,
      payload: ackSchema(jsonSchema(r.answer, 'output', 'draft-7')),
    };
    channelMessages[k] = { $ref: `#/components/messages/${k}` };
    channelMessages[`${k}.ack`] = { $ref: `#/components/messages/${k}.ack` };
    operations[k] = {
      action: 'receive',
      title: event,
      summary: r.summary,
      channel,
      messages: [{ $ref: `#/channels/socket/messages/${k}` }],
      reply: { channel, messages: [{ $ref: `#/channels/socket/messages/${k}.ack` }] },
    };
  }
  for (const [event, b] of Object.entries(broadcasts)) {
    const k = `${key(event)}.broadcast`;
    messages[k] = {
      name: event,
      title: event,
      summary: b.summary,
      payload: jsonSchema(b.payload, 'output', 'draft-7'),
    };
    channelMessages[k] = { $ref: `#/components/messages/${k}` };
    operations[k] = {
      action: 'send',
      title: event,
      summary: b.summary,
      channel,
      messages: [{ $ref: `#/channels/socket/messages/${k}` }],
    };
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'talkroom Socket.IO events',
      version: o.version,
      description:
        'Socket.IO (any transport: long-polling first, then WebSocket) on the default namespace, ' +
        'authenticated with `auth: { token }`. Every request event takes an acknowledgement callback as ' +
        'its last argument; its reply is that acknowledgement. The server sends the broadcasts on its own.',
    },
    defaultContentType: 'application/json',
    servers: {
      talkroom: {
        host: o.host ?? 'localhost:8080',
        protocol: 'ws',
        pathname: '/socket.io/',
        description: 'Socket.IO',
      },
    },
    channels: {
      socket: {
        address: '/',
        title: 'The Socket.IO connection (default namespace)',
        servers: [{ $ref: '#/servers/talkroom' }],
        messages: channelMessages,
      },
    },
    operations,
    components: { messages },
  };
}
