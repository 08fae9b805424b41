import type { Broker } from '../broker.js';

/** The status page's data (served as /status.json): figures a person wants at a glance. */
export function statusOf(broker: Broker): object {
  const { stats, options } = broker;
  const addresses = broker.addresses();
  const sum = (a: readonly number[]) => a.reduce((x, y) => x + y, 0);
  const totals = broker.totals();
  return {
    version: broker.version,
    startedAt: new Date(stats.startedAt).toISOString(),
    uptimeSeconds: Math.floor((Date.now() - stats.startedAt) / 1000),
    clients: { connected: broker.clientCount, sessions: broker.sessionCount },
    // Cumulative counters; the page turns them into rates between two polls
    messages: { received: sum(stats.messagesReceivedByQos), sent: sum(stats.messagesSentByQos), dropped: sum(Object.values(stats.dropped)) },
    bytes: { received: stats.bytesReceived, sent: stats.bytesSent },
    retained: broker.retainedCount,
    subscriptions: totals.subscriptions,
    inflight: totals.inflight,
    queued: totals.queued,
    store: {
      kind: typeof options.store === 'string' ? options.store : 'custom',
      dataDir: options.store === 'level' ? options.dataDir : undefined,
      durability: options.store === 'level' ? options.durability : undefined,
      errors: stats.storeErrors,
    },
    bridge: {
      streams: broker.cluster ? broker.bridge.status().streams : broker.log.list(),
      sinks: broker.bridge.status().sinks.map((s) => ({ name: s.name, stream: s.stream, state: s.state, lag: s.lagRecords, lagSeconds: s.lagSeconds, ...(s.lease && { lease: s.lease }) })),
    },
    mqttBridges: broker.mqttBridges.status().map((b) => ({
      name: b.name,
      state: b.state,
      reason: b.reason ?? null,
      url: b.url,
      since: new Date(b.since).toISOString(),
      retryAt: b.retryAt === undefined ? null : new Date(b.retryAt).toISOString(),
      backlog: { messages: b.backlogMessages, bytes: b.backlogBytes, inflight: b.inflight },
      forwarded: { out: b.forwardedOut, in: b.forwardedIn },
      loopsDropped: b.loopsDropped,
      dropped: Object.values(b.dropped).reduce((x, y) => x + y, 0),
      droppedByReason: b.dropped,
      blocked: b.blocked,
      limited: b.limited,
      refusedSubscriptions: b.refusedSubscriptions,
    })),
    cluster: broker.cluster?.status() ?? null,
    websocket: addresses.ws ? { port: addresses.ws.port, path: addresses.ws.path } : null,
  };
}
