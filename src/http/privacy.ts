import { pipeline } from 'node:stream/promises';
import type express from 'express';
import { AuditQuery, EmptyBody, HoldBody } from '../../protocol/inputs.ts';
import type { InFlight } from '../inflight.ts';
import { parse } from '../parse.ts';
import type { AuditLog } from '../services/audit.ts';
import type { Erasure } from '../services/erasure.ts';
import type { UserExport } from '../services/export.ts';
import type { RekeyService } from '../services/rekey.ts';
import { actor, areaRoutes, only, param } from './route-kit.ts';

export interface PrivacyRouteDeps {
  inflight: InFlight;
  rekey: RekeyService;
  audit: AuditLog;
  exports: UserExport;
  erasure: Erasure;
}

/** Privacy routes (rekey; audit, export, erasure and hold as they land). Mounted on /v1 behind authentication. */
export function privacyRoutes(d: PrivacyRouteDeps): express.Router {
  const { router: r, tracked, answer } = areaRoutes(d.inflight);

  r.post(
    '/admin/rekey',
    only('admin'),
    answer((req) => {
      parse(EmptyBody, req.body ?? {});
      return d.rekey.start(actor(req));
    }, 202),
  );

  r.get(
    '/users/:id/export',
    tracked(async (req, res) => {
      const userId = param(req, 'id');
      const zip = await d.exports.open(actor(req), userId);
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
    answer((req) => {
      const userId = param(req, 'id');
      parse(EmptyBody, req.body ?? {});
      return d.erasure.erase(actor(req), userId);
    }),
  );
  r.put(
    '/users/:id/hold',
    answer((req) => {
      const userId = param(req, 'id');
      const { hold } = parse(HoldBody, req.body);
      return d.erasure.hold(actor(req), userId, hold);
    }),
  );

  r.get(
    '/audit',
    only('admin'),
    answer((req) => d.audit.list(parse(AuditQuery, req.query, 'query'))),
  );
  r.get(
    '/audit/verify',
    only('admin'),
    answer(() => d.audit.verify()),
  );
  return r;
}
