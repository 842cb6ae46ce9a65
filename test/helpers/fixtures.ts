import type { TestServer } from './server.ts';

/** Where fixtures provision: a test server, or one node of a cluster (processes.ts `onNode`). */
export type ApiTarget = {
  token: TestServer['token'];
  api(
    method: string,
    path: string,
    opts?: { token?: string; body?: unknown },
  ): Promise<{ status: number; body: any }>;
};

/** Provisions a client and their plan (none with `plan: null`) through the admin API. */
export async function putClient(
  s: ApiTarget,
  id: string,
  o: { timezone?: string; plan?: Record<string, unknown> | null } = {},
): Promise<void> {
  const admin = s.token('platform', 'admin');
  await ok(
    s.api('PUT', `/v1/users/${id}`, {
      token: admin,
      body: { role: 'client', displayName: 'Client', timezone: o.timezone ?? 'Europe/Berlin' },
    }),
  );
  if (o.plan === null) return;
  await ok(
    s.api('PUT', `/v1/users/${id}/plan`, {
      token: admin,
      body: o.plan ?? {
        kind: 'out_of_pocket',
        includesMessaging: true,
        liveSessionsPerPeriod: 4,
        periodStart: '2026-11-01',
      },
    }),
  );
}

/** Provisions a client, a provider and their therapy room through the admin API. */
export async function therapyRoom(
  s: ApiTarget,
  o: {
    client?: string;
    provider?: string;
    plan?: Record<string, unknown> | null;
    service?: 'therapy' | 'psychiatry';
    providerTimezone?: string;
    clientTimezone?: string;
    workingHours?: Record<string, [string, string][]>;
    /** Where the room is opened, when not where the users are (another node of a cluster). */
    roomVia?: ApiTarget;
  } = {},
) {
  const admin = s.token('platform', 'admin');
  const client = o.client ?? 'client-1';
  const provider = o.provider ?? 'provider-1';
  await putClient(s, client, {
    ...(o.clientTimezone ? { timezone: o.clientTimezone } : {}),
    ...(o.plan !== undefined ? { plan: o.plan } : {}),
  });
  await ok(
    s.api('PUT', `/v1/users/${provider}`, {
      token: admin,
      body: {
        role: 'provider',
        displayName: 'Provider',
        timezone: o.providerTimezone ?? 'America/New_York',
        specialty: o.service === 'psychiatry' ? 'psychiatry' : 'therapy',
        ...(o.workingHours ? { workingHours: o.workingHours } : {}),
      },
    }),
  );
  const room = await ok(
    (o.roomVia ?? s).api('POST', '/v1/rooms', {
      token: admin,
      body: { kind: 'therapy', clientId: client, providerId: provider, service: o.service ?? 'therapy' },
    }),
  );
  return {
    roomId: room.room.id as string,
    client,
    provider,
    admin,
    clientToken: s.token(client, 'client'),
    providerToken: s.token(provider, 'provider'),
  };
}

export async function ok(p: Promise<{ status: number; body: any }>): Promise<any> {
  const r = await p;
  if (r.status >= 300) throw new Error(`expected success, got ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}
