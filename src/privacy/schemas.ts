import { z } from 'zod';
import { Id } from '../api/schemas.ts';

const instant = z.iso
  .datetime({ offset: true })
  .refine((s) => s >= '1970' && s < '9999', 'must be from 1970 to 9998')
  .transform((v) => new Date(v));

/** `GET /v1/audit` query. */
export const AuditQuery = z.strictObject({
  actorId: Id.optional(),
  roomId: Id.optional(),
  subjectId: Id.optional(),
  from: instant.optional(),
  to: instant.optional(),
  cursor: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});

/** `PUT /v1/users/:id/hold` body. */
export const HoldBody = z.strictObject({ hold: z.boolean() });
