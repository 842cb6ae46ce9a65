import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../log.ts';
import { withRequestId } from '../request-context.ts';

/** An incoming X-Request-Id is kept when it looks like an id (a proxy's or the platform's); anything else is replaced. */
const WELL_FORMED = /^[A-Za-z0-9._:-]{1,128}$/;

export const requestIdOf = (incoming: unknown): string =>
  typeof incoming === 'string' && WELL_FORMED.test(incoming) ? incoming : randomUUID();

/** A load balancer's and a scraper's polls: logged at debug while they succeed, or they would drown the rest. */
const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

/** Query parameters that carry credentials; their values never reach a log. */
const SECRET_PARAMS = new Set(['token', 'jointoken', 'access_token', 'auth', 'authorization']);

/**
 * The path of a request as it may be logged: a join link's token (/join/<token>,
 * /v1/join/<token>) and credential-like query values are replaced. A join
 * token is a bearer credential for a session.
 */
export function loggablePath(url: string): string {
  const q = url.indexOf('?');
  const path = (q < 0 ? url : url.slice(0, q)).replace(/(^|\/)join\/[^/]+/, '$1join/[redacted]');
  if (q < 0) return path;
  const params = new URLSearchParams(url.slice(q + 1));
  for (const key of [...params.keys()]) {
    if (SECRET_PARAMS.has(key.toLowerCase())) params.set(key, '[redacted]');
  }
  const query = params.toString();
  return query ? `${path}?${query}` : path;
}

declare module 'express-serve-static-core' {
  interface Request {
    /** This request's id: the caller's X-Request-Id if well-formed, else a new one; echoed in the answer. */
    requestId?: string;
  }
}

/**
 * One line per REST request, when its answer is sent or its connection drops:
 * ids, route, status and duration — never a body, a header's credentials or a
 * join token (see loggablePath).
 */
export function accessLog(log: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = performance.now();
    const reqId = requestIdOf(req.headers['x-request-id']);
    req.requestId = reqId;
    res.setHeader('X-Request-Id', reqId);
    let logged = false;
    const done = () => {
      if (logged) return;
      logged = true;
      const status = res.writableFinished ? res.statusCode : 0; // 0: the client went away first
      const line = {
        reqId,
        method: req.method,
        route: req.route?.path ? `${req.baseUrl}${req.route.path}` : undefined,
        path: loggablePath(req.originalUrl),
        status,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        userId: req.identity?.id,
        role: req.identity?.role,
      };
      if (status >= 500) log.warn(line, 'request');
      else if (PROBES.has(req.path) && status < 400) log.debug(line, 'request');
      else log.info(line, 'request');
    };
    res.once('finish', done);
    res.once('close', done);
    withRequestId(reqId, next);
  };
}

const handshakeIds = new WeakMap<IncomingMessage, string>();

/** A socket's request id: its handshake's X-Request-Id (or one made up for it), for its whole life. */
export function handshakeRequestId(req: IncomingMessage): string {
  let id = handshakeIds.get(req);
  if (!id) {
    id = requestIdOf(req.headers['x-request-id']);
    handshakeIds.set(req, id);
  }
  return id;
}
