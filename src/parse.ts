import type { z } from 'zod';
import { describeIssues } from '../protocol/inputs.ts';
import { AppError } from './errors.ts';

/** Parses input with a contract schema or throws invalid_input with a message that names each bad field. */
export function parse<S extends z.ZodType>(schema: S, input: unknown, where = 'body'): z.infer<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw new AppError('invalid_input', describeIssues(r.error, where));
}
