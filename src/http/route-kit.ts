import express, { type NextFunction, type Request, type Response } from 'express';
import { Id } from '../../protocol/inputs.ts';
import type { Identity } from '../auth/tokens.ts';
import type { Role } from '../domain/types.ts';
import { AppError } from '../errors.ts';
import type { InFlight } from '../inflight.ts';
import { parse } from '../parse.ts';

/** What every REST route file shares: the signed-in caller, a path id, a role check, in-flight tracking. */
export const actor = (req: Request): Identity => req.identity!;

export const param = (req: Request, name: string): string => parse(Id, req.params[name], name);

export const only =
  (...roles: Role[]) =>
  (req: Request, _res: Response, next: NextFunction): void => {
    if (!roles.includes(actor(req).role))
      throw new AppError('forbidden', `this needs the ${roles.join(' or ')} role`);
    next();
  };

/** Wraps a handler so a shutdown waits for its answer. */
export const tracker =
  (inflight: InFlight) =>
  (fn: (req: Request, res: Response) => Promise<void>) =>
  (req: Request, res: Response): Promise<void> =>
    inflight.run(() => fn(req, res));

/**
 * An area's router and its two handler wrappers: `tracked` (a shutdown waits
 * for the answer) and `answer`, for the many routes that read their input,
 * call a service and answer what it resolves to as JSON (200 unless `status`).
 */
export function areaRoutes(inflight: InFlight) {
  const tracked = tracker(inflight);
  const answer = (fn: (req: Request) => Promise<unknown>, status = 200) =>
    tracked(async (req, res) => {
      res.status(status).json(await fn(req));
    });
  return { router: express.Router(), tracked, answer };
}
