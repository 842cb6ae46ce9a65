import { z } from 'zod';
import type { Route } from './route.ts';

const Health = z.object({ status: z.literal('ok') });
const Readiness = z.object({
  status: z.enum(['ok', 'degraded', 'down']),
  checks: z.record(z.string(), z.enum(['ok', 'degraded', 'down'])),
});
const html = { type: 'text/html', description: 'the session page' };

/** The node itself (health, readiness, metrics), the web pages and the API documents: no /v1 resource. */
export const serviceRoutes: readonly Route[] = [
  { method: 'get', path: '/healthz', summary: 'The process is up', auth: 'none', answers: { 200: Health } },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Store, Redis and media workers are ready (503 when not, or while shutting down)',
    auth: 'none',
    answers: { 200: Readiness, 503: Readiness },
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics (METRICS_TOKEN as a bearer token when set)',
    auth: 'metrics',
    answers: { 200: { type: 'text/plain', description: 'Prometheus text format' } },
  },
  {
    method: 'get',
    path: '/join/{token}',
    summary: 'A join link: the reference web client’s session page',
    auth: 'none',
    params: z.object({ token: z.string() }),
    answers: { 200: html },
  },
  {
    method: 'get',
    path: '/app',
    summary: 'The reference web app (signs in with `#token=<JWT>` in the fragment)',
    auth: 'none',
    answers: { 200: { type: 'text/html', description: 'the web app' } },
  },
  {
    method: 'get',
    path: '/assets/{file}',
    summary: 'A built script or stylesheet of the web pages (content-hashed name, cacheable for good)',
    auth: 'none',
    params: z.object({ file: z.string() }),
    answers: { 200: { type: 'text/javascript', description: 'a script, stylesheet or source map' } },
  },
  {
    method: 'get',
    path: '/v1/openapi.json',
    summary: 'This document',
    auth: 'none',
    answers: { 200: { type: 'application/json', description: 'OpenAPI 3.1' } },
  },
  {
    method: 'get',
    path: '/v1/asyncapi.json',
    summary: 'The Socket.IO events, as AsyncAPI 3',
    auth: 'none',
    answers: { 200: { type: 'application/json', description: 'AsyncAPI 3.0' } },
  },
];
