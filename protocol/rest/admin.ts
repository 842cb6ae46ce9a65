import { z } from 'zod';
import * as A from '../answers.ts';
import * as I from '../inputs.ts';
import { IdParam, Instant, type Route } from './route.ts';

const FailedJob = z.object({
  id: z.string(),
  kind: z.string(),
  attempts: z.number().int(),
  lastError: z.string().nullable(),
  failedAt: Instant,
  createdAt: Instant,
});

/** Operations and privacy: failed jobs, re-encryption, a user's export, erasure and legal hold, the audit log. */
export const adminRoutes: readonly Route[] = [
  {
    method: 'get',
    path: '/v1/admin/jobs/failed',
    summary: 'Jobs that used up their attempts',
    auth: ['admin'],
    query: I.FailedJobsQuery,
    answers: {
      200: z.object({ jobs: z.array(FailedJob), hasMore: z.boolean(), next: z.string().optional() }),
    },
  },
  {
    method: 'post',
    path: '/v1/admin/jobs/{id}/retry',
    summary: 'Run a failed job again',
    auth: ['admin'],
    params: IdParam,
    body: I.EmptyBody,
    answers: { 200: z.object({ job: z.object({ id: z.string(), kind: z.string(), runAt: Instant }) }) },
  },
  {
    method: 'post',
    path: '/v1/admin/rekey',
    summary: 'Re-encrypt everything stored to the first of ENCRYPTION_KEYS, in the background',
    auth: ['admin'],
    body: I.EmptyBody,
    answers: {
      202: z.object({
        key: z.string(),
        remaining: z.object({ messages: z.number().int(), chunks: z.number().int() }),
      }),
    },
  },
  {
    method: 'get',
    path: '/v1/users/{id}/export',
    summary: 'A user’s data as a zip: export.json and recordings/ (the user themself, or admin)',
    auth: 'token',
    params: IdParam,
    answers: { 200: { type: 'application/zip', description: 'export.json and recordings/, streamed' } },
  },
  {
    method: 'post',
    path: '/v1/users/{id}/erase',
    summary: 'Erase a user’s message texts, meta and recordings; messages stay as tombstones',
    auth: ['admin'],
    params: IdParam,
    body: I.EmptyBody,
    answers: {
      200: z.object({ erased: z.object({ messages: z.number().int(), recordings: z.number().int() }) }),
    },
  },
  {
    method: 'put',
    path: '/v1/users/{id}/hold',
    summary: 'Set or lift a legal hold (erasure answers legal_hold while it is set)',
    auth: ['admin'],
    params: IdParam,
    body: I.HoldBody,
    answers: { 200: z.object({ userId: z.string(), hold: z.boolean() }) },
  },
  {
    method: 'get',
    path: '/v1/audit',
    summary: 'The audit log, oldest first, filtered and paged',
    auth: ['admin'],
    query: I.AuditQuery,
    answers: { 200: z.object({ entries: z.array(A.AuditEntry), next: z.string().optional() }) },
  },
  {
    method: 'get',
    path: '/v1/audit/verify',
    summary: 'Recompute the audit hash chain: brokenAt names the first entry that does not match',
    auth: ['admin'],
    answers: { 200: z.object({ ok: z.boolean(), brokenAt: z.string().optional() }) },
  },
];
