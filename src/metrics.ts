import client from 'prom-client';

/** Where the gauges read their values at each scrape; set once the node is assembled. */
export interface MetricSources {
  /** This node's open sockets, by the role of who holds them. */
  socketsByRole(): Record<string, number>;
  /** The deployment's open live sessions (shared state: every node reports the same). */
  liveSessions(): Promise<{ waiting: number; in_progress: number }>;
  /** This node's SFU, if it runs one. */
  media(): { workers: number; consumers: number } | undefined;
  /** Jobs due and not yet claimed, across the deployment. */
  jobsDue(): Promise<number>;
}

const ROLES = ['client', 'provider', 'support', 'clinical', 'bot', 'admin'] as const;

/**
 * The Prometheus metrics this node exports at /metrics. One registry per
 * server instance. Gauges of state read it when scraped (collect), so they
 * cannot drift from what they describe; counters count events.
 */
export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  let sources: MetricSources | undefined;
  /** A count of this node's SFU, read at each scrape (0 without one). */
  const mediaGauge = (name: string, help: string, count: 'workers' | 'consumers') =>
    new client.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(sources?.media()?.[count] ?? 0);
      },
    });
  return {
    registry,
    /** Wires the gauges to the node's state (server/server.ts, once everything exists). */
    observe(s: MetricSources): void {
      sources = s;
    },
    messagesStored: new client.Counter({
      name: 'talkroom_messages_stored_total',
      help: 'Messages durably stored, by kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    messageAppendSeconds: new client.Histogram({
      name: 'talkroom_message_append_seconds',
      help: 'Time from a send request to its durable store',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [registry],
    }),
    socketsConnected: new client.Gauge({
      name: 'talkroom_sockets_connected',
      help: 'Socket.IO connections on this node',
      registers: [registry],
    }),
    socketRequests: new client.Counter({
      name: 'talkroom_socket_requests_total',
      help: 'Socket.IO request events, by event and outcome code',
      labelNames: ['event', 'outcome'] as const,
      registers: [registry],
    }),
    httpRequests: new client.Counter({
      name: 'talkroom_http_requests_total',
      help: 'REST requests, by route and status',
      labelNames: ['route', 'status'] as const,
      registers: [registry],
    }),
    sockets: new client.Gauge({
      name: 'talkroom_sockets',
      help: 'Open Socket.IO connections on this node, by role',
      labelNames: ['role'] as const,
      registers: [registry],
      collect() {
        const counts = sources?.socketsByRole() ?? {};
        for (const role of new Set([...ROLES, ...Object.keys(counts)])) this.set({ role }, counts[role] ?? 0);
      },
    }),
    liveSessions: new client.Gauge({
      name: 'talkroom_live_sessions',
      help: 'Open live sessions in the deployment, by state (waiting: one party present; in_progress)',
      labelNames: ['state'] as const,
      registers: [registry],
      async collect() {
        // The store unreachable: the last values stay, and the scrape still answers (/readyz says why).
        const s = await sources?.liveSessions().catch(() => undefined);
        if (!s) return;
        this.set({ state: 'waiting' }, s.waiting);
        this.set({ state: 'in_progress' }, s.in_progress);
      },
    }),
    mediaWorkers: mediaGauge('talkroom_media_workers', 'Live mediasoup workers on this node', 'workers'),
    mediaConsumers: mediaGauge(
      'talkroom_media_consumers',
      'mediasoup consumers (media streams sent to a participant) on this node',
      'consumers',
    ),
    jobsDue: new client.Gauge({
      name: 'talkroom_jobs_due',
      help: 'Scheduled jobs due now and not yet claimed, across the deployment (the backlog)',
      registers: [registry],
      async collect() {
        const due = await sources?.jobsDue().catch(() => undefined);
        if (due !== undefined) this.set(due);
      },
    }),
    jobsFailed: new client.Counter({
      name: 'talkroom_jobs_failed_total',
      help: 'Jobs that used up their attempts on this node and were kept as failed, by kind',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    webhookDeliveries: new client.Counter({
      name: 'talkroom_webhook_deliveries_total',
      help: 'Webhook delivery attempts on this node, by outcome (delivered; retried: failed, tried again later; failed: the last attempt failed)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    retentionRemoved: new client.Counter({
      name: 'talkroom_retention_removed_total',
      help: 'What retention turned into tombstones (messages) or deleted (recordings) on this node',
      labelNames: ['what'] as const,
      registers: [registry],
    }),
    bookingTransitions: new client.Counter({
      name: 'talkroom_booking_transitions_total',
      help: 'Bookings that entered a status (committed), by the status entered',
      labelNames: ['to'] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
