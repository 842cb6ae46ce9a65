import { z } from 'zod';
import { ERROR_CODES } from './errors.ts';
import { adminRoutes } from './rest/admin.ts';
import { bookingRoutes } from './rest/bookings.ts';
import { roomRoutes } from './rest/rooms.ts';
import type { Route } from './rest/route.ts';
import { serviceRoutes } from './rest/service.ts';

export { JoinInfo } from './rest/bookings.ts';
export type { Route } from './rest/route.ts';

export const ErrorAnswer = z.object({
  error: z.object({
    code: z.enum(Object.keys(ERROR_CODES) as [keyof typeof ERROR_CODES]),
    message: z.string(),
  }),
});

/**
 * Every route the server serves, by area (rest/*.ts): its input schemas (path,
 * query, body) and its answers by status. The OpenAPI document is generated
 * from this table, and a test holds it against the routes Express actually has.
 */
export const routes: readonly Route[] = [...serviceRoutes, ...roomRoutes, ...bookingRoutes, ...adminRoutes];
