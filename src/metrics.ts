import client from 'prom-client';

/** The Prometheus metrics this node exports at /metrics. One registry per server instance. */
export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  return {
    registry,
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
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
