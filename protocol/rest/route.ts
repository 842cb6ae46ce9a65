import { z } from 'zod';
import * as I from '../inputs.ts';
import type { ROLES } from '../vocabulary.ts';

/** One route the server serves: its input schemas (path, query, body) and its answers by status. */
export interface Route {
  method: 'get' | 'put' | 'post' | 'delete';
  /** OpenAPI style: `/v1/rooms/{id}`. */
  path: string;
  summary: string;
  /** Who may call it: a platform JWT (any role, or the roles listed), or nobody in particular. */
  auth: 'none' | 'token' | 'metrics' | readonly (typeof ROLES)[number][];
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** A body that is not JSON: its media types. */
  rawBody?: string;
  /** Answers by HTTP status: a JSON schema, or a media type for what is not JSON. */
  answers: Record<number, z.ZodType | { type: string; description: string }>;
}

export const IdParam = z.strictObject({ id: I.Id });
export const Instant = z.string().describe('ISO-8601 UTC instant');
