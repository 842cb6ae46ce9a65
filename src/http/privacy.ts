import express, { type Request, type Response } from 'express';
import { EmptyBody, parse } from '../api/schemas.ts';
import { AppError } from '../errors.ts';
import type { InFlight } from '../inflight.ts';
import { AuditQuery } from '../privacy/schemas.ts';
import type { AuditLog } from '../services/audit.ts';
import type { RekeyService } from '../services/rekey.ts';

export interface PrivacyRouteDeps {
  inflight: InFlight;
  rekey: RekeyService;
  audit: AuditLog;
}

/** Privacy routes (rekey; audit, export, erasure and hold as they land). Mounted on /v1 behind authentication. */
export function privacyRoutes(d: PrivacyRouteDeps): express.Router {
  const r = express.Router();
  const tracked =
    (fn: (req: Request, res: Response) => Promise<void>) =>
    (req: Request, res: Response): Promise<void> =>
      d.inflight.run(() => fn(req, res));
  const admin = (req: Request) => {
    if (req.identity!.role !== 'admin') throw new AppError('forbidden', 'this needs the admin role');
  };

  r.post(
    '/admin/rekey',
    tracked(async (req, res) => {
      admin(req);
      parse(EmptyBody, req.body ?? {});
      res.status(202).json(await d.rekey.start(req.identity!));
    }),
  );

  r.get(
    '/audit',
    tracked(async (req, res) => {
      admin(req);
      res.json(await d.audit.list(parse(AuditQuery, req.query, 'query')));
    }),
  );
  r.get(
    '/audit/verify',
    tracked(async (req, res) => {
      admin(req);
      res.json(await d.audit.verify());
    }),
  );
  return r;
}
