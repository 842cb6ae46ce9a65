import { pipeline } from 'node:stream/promises';
import express, { type Request } from 'express';
import { AuditQuery, EmptyBody, HoldBody, Id } from '../../protocol/inputs.ts';
import { AppError } from '../errors.ts';
import type { InFlight } from '../inflight.ts';
import { parse } from '../parse.ts';
import type { AuditLog } from '../services/audit.ts';
import type { Erasure } from '../services/erasure.ts';
import type { UserExport } from '../services/export.ts';
import type { RekeyService } from '../services/rekey.ts';
import { tracker } from './route-kit.ts';

export interface PrivacyRouteDeps {
  inflight: InFlight;
  rekey: RekeyService;
  audit: AuditLog;
  exports: UserExport;
  erasure: Erasure;
}

/** Privacy routes (rekey; audit, export, erasure and hold as they land). Mounted on /v1 behind authentication. */
export function privacyRoutes(d: PrivacyRouteDeps): express.Router {
  const r = express.Router();
  const tracked = tracker(d.inflight);
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
    '/users/:id/export',
    tracked(async (req, res) => {
      const userId = parse(Id, req.params.id, 'id');
      const zip = await d.exports.open(req.identity!, userId);
      res.status(200);
      res.setHeader('Content-Type', 'application/zip');
      res.setHeader(
        'Content-Disposition',
        `attachment; filename="talkroom-export-${encodeURIComponent(userId)}.zip"`,
      );
      res.setHeader('Cache-Control', 'no-store');
      // A failure part-way cannot change the status any more: the connection is cut, so the zip is visibly broken.
      await pipeline(zip, res).catch(() => res.destroy());
    }),
  );

  r.post(
    '/users/:id/erase',
    tracked(async (req, res) => {
      const userId = parse(Id, req.params.id, 'id');
      parse(EmptyBody, req.body ?? {});
      res.json(await d.erasure.erase(req.identity!, userId));
    }),
  );
  r.put(
    '/users/:id/hold',
    tracked(async (req, res) => {
      const userId = parse(Id, req.params.id, 'id');
      const { hold } = parse(HoldBody, req.body);
      res.json(await d.erasure.hold(req.identity!, userId, hold));
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
