import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SinkStatus } from '../bridge/sink-runner.js';
import type { Broker } from '../broker.js';
import type { Plugin } from '../hooks.js';
import type { MqttBridgeStatus } from '../mqtt-bridge/bridge.js';

const QOS = ['0', '1', '2'] as const;
/** Sessions whose queue depth /metrics reports one by one (the deepest), so a broker with many sessions keeps few series. */
const QUEUE_DEPTH_SERIES = 100;

/**
 * Prometheus metrics, as an ordinary plugin: `init` registers collectors on a registry of this
 * broker's own (never prom-client's global one). Values are read from the broker's counters when
 * scraped, so counting costs the hot path nothing beyond the increments Stats already does.
 */
export class Metrics implements Plugin {
  readonly name = 'metrics';
  readonly registry = new Registry();

  init(broker: Broker): void {
    const r = this.registry;
    const stats = broker.stats;
    // Process metrics (CPU, memory, event loop lag, GC) start monitors that live as long as the
    // process, so only a broker that serves /metrics turns them on
    if (broker.options.httpPort >= 0) collectDefaultMetrics({ register: r });
    gauge(r, 'midge_connections', 'Clients connected now.', () => broker.clientCount);
    counterBy(r, 'midge_connections_total', 'Accepted connections (CONNACK sent), by listener.', 'listener', () => stats.connectionsByListener);
    gauge(r, 'midge_sessions', 'Sessions, connected or not.', () => broker.sessionCount);
    const byQos = (counts: readonly number[]) => new Map(QOS.map((q, i) => [q, counts[i] ?? 0]));
    counterBy(r, 'midge_messages_received_total', 'PUBLISH packets received from clients, by QoS.', 'qos', () => byQos(stats.messagesReceivedByQos));
    counterBy(r, 'midge_messages_sent_total', 'PUBLISH packets sent to clients (retransmissions excluded), by QoS.', 'qos', () => byQos(stats.messagesSentByQos));
    counter(r, 'midge_messages_delivered_total', 'Messages whose delivery completed (QoS 0 sent, QoS 1/2 acknowledged).', () => stats.messagesSent);
    counter(r, 'midge_received_bytes_total', 'MQTT bytes received from clients.', () => stats.bytesReceived);
    counter(r, 'midge_sent_bytes_total', 'MQTT bytes sent to clients.', () => stats.bytesSent);
    counter(r, 'midge_packets_received_total', 'MQTT control packets received.', () => stats.packetsReceived);
    counter(r, 'midge_packets_sent_total', 'MQTT control packets sent.', () => stats.packetsSent);
    counterBy(r, 'midge_messages_dropped_total', 'Messages dropped or refused, by reason.', 'reason', () => new Map(Object.entries(stats.dropped)));
    gauge(r, 'midge_inflight_messages', 'QoS 1/2 messages sent and not yet acknowledged.', () => broker.totals().inflight);
    gauge(r, 'midge_queued_messages', 'Messages waiting in session queues (memory and disk).', () => broker.totals().queued);
    this.#flowMetrics(broker);
    gauge(r, 'midge_subscriptions', 'Subscriptions over all sessions.', () => broker.totals().subscriptions);
    gauge(r, 'midge_retained_messages', 'Retained messages.', () => broker.retainedCount);
    counter(r, 'midge_store_errors_total', 'Store operations that failed.', () => stats.storeErrors);
    gauge(r, 'midge_start_time_seconds', 'When the broker started, in Unix seconds.', () => stats.startedAt / 1000);
    this.#storeHistograms(broker);
    this.#bridgeGauges(broker);
    this.#mqttBridgeMetrics(broker);
    this.#clusterMetrics(broker);
  }

  /** Cluster mode: this node's view of the cluster and its JetStream appends. */
  #clusterMetrics(broker: Broker): void {
    const cluster = broker.cluster;
    if (cluster === undefined) return;
    const r = this.registry;
    gauge(r, 'midge_cluster_connected', '1 while this node is connected to NATS, else 0.', () => (cluster.status().connected ? 1 : 0));
    gauge(r, 'midge_cluster_nodes', 'Live nodes in the cluster as this node last saw them (itself included).', () => cluster.status().nodesSeen);
    gauge(r, 'midge_cluster_sessions_owned', 'Sessions this node holds.', () => cluster.status().sessionsOwned);
    gauge(r, 'midge_cluster_shared_groups', 'Shared subscriptions (group and filter) this node takes part in through NATS queue groups.', () => cluster.status().sharedGroups);
    counter(r, 'midge_cluster_append_retries_total', 'JetStream appends repeated with the same message id after a failure or timeout.', () => cluster.appends.retries);
    counter(r, 'midge_cluster_append_failures_total', 'JetStream appends given up after the retry deadline (the publisher was refused).', () => cluster.appends.failures);
    counter(r, 'midge_cluster_catchup_deferred_total', 'Stored QoS 1/2 deliveries left out of consuming subscribers\' full queues, to be read back from the MSGS stream (flow control in cluster mode).', () => cluster.status().catchUp.deferred);
    counter(r, 'midge_cluster_catchup_read_total', 'Stored QoS 1/2 deliveries read back from the MSGS stream for sessions that fell behind.', () => cluster.status().catchUp.read);
    gauge(r, 'midge_cluster_sessions_behind', 'Sessions whose stored messages are read back from the MSGS stream now (their queue filled while they consumed).', () => cluster.status().catchUp.behind);
    const latency = new Histogram({
      name: 'midge_cluster_append_duration_seconds',
      help: 'Time from the first attempt of a JetStream append (QoS 1/2 or retained message) to its acknowledgement, retries included.',
      buckets: [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [r],
    });
    cluster.appends.observe((ms) => latency.observe(ms / 1000));
  }

  /** Flow control (README *Flow control*) and the deepest session queues. */
  #flowMetrics(broker: Broker): void {
    const r = this.registry;
    gauge(r, 'midge_publishers_held', 'Publishers whose PUBACK/PUBREC flow control withholds now (they feed a consuming subscriber whose queue is full).', () => broker.flowStatus().publishersHeld);
    gauge(r, 'midge_acknowledgements_held', 'PUBACK/PUBREC packets flow control withholds now.', () => broker.flowStatus().acknowledgementsHeld);
    counter(r, 'midge_acknowledgements_held_total', 'PUBACK/PUBREC packets flow control withheld since start.', () => broker.flowStatus().acknowledgementsHeldTotal);
    gauge(r, 'midge_sessions_holding', 'Sessions whose full queue holds publishers back now.', () => broker.flowStatus().sessionsHolding);
    const depths = () => broker.queueDepths(QUEUE_DEPTH_SERIES).map((d) => [{ client_id: d.clientId }, d.queued] as const);
    labelled(r, 'gauge', 'midge_session_queued_messages', `Messages waiting in a session's queue (memory and disk), for the ${QUEUE_DEPTH_SERIES} deepest non-empty queues.`, ['client_id'], depths);
  }

  /** Per MQTT bridge (label bridge): link state, backlog, forwarded and dropped messages. */
  #mqttBridgeMetrics(broker: Broker): void {
    const r = this.registry;
    const each = (read: (b: MqttBridgeStatus) => number) => () => broker.mqttBridges.status().map((b) => [{ bridge: b.name }, read(b)] as const);
    labelled(r, 'gauge', 'midge_mqtt_bridge_up', '1 while the bridge is connected to its remote broker, else 0.', ['bridge'], each((b) => (b.state === 'connected' ? 1 : 0)));
    labelled(r, 'gauge', 'midge_mqtt_bridge_backlog_messages', 'Outbound messages waiting for the remote (memory and disk) or in flight to it.', ['bridge'], each((b) => b.backlogMessages));
    labelled(r, 'gauge', 'midge_mqtt_bridge_backlog_bytes', 'Payload bytes of the outbound messages waiting for the remote.', ['bridge'], each((b) => b.backlogBytes));
    labelled(r, 'counter', 'midge_mqtt_bridge_connects_total', 'Connections to the remote broker made.', ['bridge'], each((b) => b.connects));
    labelled(r, 'counter', 'midge_mqtt_bridge_failures_total', 'Failed attempts to connect and lost connections.', ['bridge'], each((b) => b.failures));
    const forwarded = () => broker.mqttBridges.status().flatMap((b) => [[{ bridge: b.name, direction: 'out' }, b.forwardedOut] as const, [{ bridge: b.name, direction: 'in' }, b.forwardedIn] as const]);
    labelled(r, 'counter', 'midge_mqtt_bridge_forwarded_total', 'Messages forwarded (out: acknowledged by the remote, or sent at QoS 0; in: published locally).', ['bridge', 'direction'], forwarded);
    const dropped = () => broker.mqttBridges.status().flatMap((b) => Object.entries(b.dropped).map(([reason, n]) => [{ bridge: b.name, reason }, n] as const));
    labelled(r, 'counter', 'midge_mqtt_bridge_dropped_total', 'Outbound messages dropped, by reason (offline: QoS 0 while the link is down; queue-full: the backlog bound).', ['bridge', 'reason'], dropped);
    const limited = () => broker.mqttBridges.status().flatMap((b) => (['qos', 'retain'] as const).map((what) => [{ bridge: b.name, what }, b.limited[what]] as const));
    labelled(r, 'counter', 'midge_mqtt_bridge_limited_total', "Outbound messages sent below their QoS for the remote's Maximum QoS (what=qos), or without RETAIN for its Retain Available 0 (what=retain).", ['bridge', 'what'], limited);
  }

  /** Lag, shipped and dropped records of every bridge sink, labelled by sink and stream. */
  #bridgeGauges(broker: Broker): void {
    const r = this.registry;
    const sinks = () => broker.bridge.status().sinks;
    const lag = (read: (s: SinkStatus) => number) => () => new Map(sinks().map((s) => [s, read(s)]));
    sinkMetric(r, 'gauge', 'midge_bridge_lag_records', 'Records in the stream the sink has not yet had acknowledged by its engine.', lag((s) => s.lagRecords));
    sinkMetric(r, 'gauge', 'midge_bridge_lag_seconds', 'Age of the oldest record the sink has not yet had acknowledged (0 when caught up).', lag((s) => s.lagSeconds));
    sinkMetric(r, 'gauge', 'midge_bridge_up', '1 while the sink is running (shipping or caught up), else 0.', lag((s) => (s.state === 'running' ? 1 : 0)));
    sinkMetric(r, 'counter', 'midge_bridge_shipped_records_total', 'Records the sink shipped and its engine acknowledged.', lag((s) => s.shipped));
    sinkMetric(r, 'counter', 'midge_bridge_dropped_records_total', 'Records retention removed before the sink shipped them.', lag((s) => s.dropped));
    sinkMetric(r, 'counter', 'midge_bridge_failures_total', 'Failed attempts to reach or write to the engine.', lag((s) => s.failures));
    const leased = () => new Map(sinks().flatMap((s) => (s.lease ? [[s, s.lease.held ? 1 : 0] as const] : [])));
    sinkMetric(r, 'gauge', 'midge_bridge_sink_lease_held', 'Cluster mode: 1 while this node holds the sink\'s lease (the sink runs here), else 0.', leased);
  }

  #storeHistograms(broker: Broker): void {
    const latency = new Histogram({
      name: 'midge_store_commit_duration_seconds',
      help: 'Time one store commit (a group of writes, synced per the durability setting) took.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [this.registry],
    });
    const batch = new Histogram({
      name: 'midge_store_commit_operations',
      help: 'Writes per store commit (group commit batch size).',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000],
      registers: [this.registry],
    });
    broker.observeCommits((operations, ms) => {
      latency.observe(ms / 1000);
      batch.observe(operations);
    });
  }

  /** The metrics in Prometheus text format. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  close(): void {
    this.registry.clear();
  }
}

function gauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

function counter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** A gauge or counter with one series per bridge sink (labels sink and stream), read at scrape time. */
function sinkMetric(registry: Registry, kind: 'gauge' | 'counter', name: string, help: string, read: () => ReadonlyMap<SinkStatus, number>): void {
  const labelNames = ['sink', 'stream'] as const;
  const labels = (s: SinkStatus) => ({ sink: s.name, stream: s.stream });
  if (kind === 'gauge') {
    new Gauge({ name, help, labelNames, registers: [registry], collect() {
      this.reset();
      for (const [s, v] of read()) this.set(labels(s), v);
    } });
  } else {
    new Counter({ name, help, labelNames, registers: [registry], collect() {
      this.reset();
      for (const [s, v] of read()) this.inc(labels(s), v);
    } });
  }
}

function counterBy(registry: Registry, name: string, help: string, label: string, read: () => ReadonlyMap<string, number> | Readonly<Record<string, number>>): void {
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      this.reset();
      const counts = read();
      for (const [value, count] of counts instanceof Map ? counts : Object.entries(counts)) this.inc({ [label]: value }, count);
    },
  });
}

/** A gauge or counter with labelled series, read at scrape time. */
function labelled(
  registry: Registry,
  kind: 'gauge' | 'counter',
  name: string,
  help: string,
  labelNames: readonly string[],
  read: () => readonly (readonly [Record<string, string>, number])[],
): void {
  if (kind === 'gauge') {
    new Gauge({ name, help, labelNames, registers: [registry], collect() {
      this.reset();
      for (const [labels, v] of read()) this.set(labels, v);
    } });
  } else {
    new Counter({ name, help, labelNames, registers: [registry], collect() {
      this.reset();
      for (const [labels, v] of read()) this.inc(labels, v);
    } });
  }
}
