import type { Logger } from 'pino';
import type { PublishInput } from '../broker/message.js';
import type { Stats } from '../broker/stats.js';
import type { MqttBridgeStatus } from '../mqtt-bridge/bridge.js';
import type { ClusterStatus } from '../cluster/figures.js';

/** What the $SYS publisher reads and how it publishes (through the broker's normal routing, so ACLs apply). */
export interface SysSource {
  readonly stats: Stats;
  readonly version: string;
  readonly clientCount: number;
  readonly sessionCount: number;
  readonly retainedCount: number;
  totals(): { inflight: number; queued: number; subscriptions: number };
  /** Flow control now (publishers and acknowledgements held back). */
  flowStatus(): { publishersHeld: number; acknowledgementsHeld: number };
  /** The deepest session queues. */
  queueDepths(limit: number): { clientId: string; queued: number; holding: boolean }[];
  publish(input: PublishInput): Promise<void>;
  /** The MQTT bridges, whose figures go under bridges/<name>/ and Mosquitto's connection/<name>/state. */
  readonly mqttBridges?: { status(): MqttBridgeStatus[] };
  /** Cluster mode: this node's figures, under cluster/. */
  readonly cluster?: { status(): ClusterStatus } | undefined;
}

/** A load average in the manner of Mosquitto: an exponentially weighted per-minute rate over a window. */
class Load {
  #value = 0;
  #primed = false;
  constructor(readonly windowSeconds: number) {}

  update(perMinute: number, elapsedSeconds: number): number {
    if (!this.#primed) {
      this.#primed = true;
      this.#value = perMinute;
    } else {
      this.#value += (perMinute - this.#value) * (1 - Math.exp(-elapsedSeconds / this.windowSeconds));
    }
    return this.#value;
  }
}

/** Sessions in `queues/deepest`. */
const SYS_QUEUE_DEPTHS = 10;

const WINDOWS = [
  ['1min', 60],
  ['5min', 300],
  ['15min', 900],
] as const;
type Counted = 'messages/received' | 'messages/sent' | 'publish/messages/received' | 'publish/messages/sent' | 'bytes/received' | 'bytes/sent' | 'connections';

/**
 * Publishes `$SYS/broker/...` every `intervalSeconds`, retained, with Mosquitto's topic names
 * where Mosquitto has one. Timer-driven; `stop()` ends it.
 */
export class SysTopics {
  readonly #source: SysSource;
  readonly #logger: Logger;
  readonly #timer: NodeJS.Timeout;
  readonly #loads = new Map<string, Load>();
  #last: { at: number; counts: Record<Counted, number> };
  #maxConnected = 0;

  constructor(source: SysSource, intervalSeconds: number, logger: Logger) {
    this.#source = source;
    this.#logger = logger;
    this.#last = { at: Date.now(), counts: this.#counts() };
    this.#timer = setInterval(() => this.publishNow(), intervalSeconds * 1000);
    this.#timer.unref();
    this.publishNow();
  }

  /** Publishes every $SYS topic now (also what the timer does). */
  publishNow(): void {
    const now = Date.now();
    const values = this.#values(now);
    const publishes = Object.entries(values).map(([topic, value]) =>
      this.#source.publish({ topic: `$SYS/broker/${topic}`, payload: String(value), qos: 0, retain: true }),
    );
    Promise.all(publishes).catch((err: unknown) => this.#logger.warn({ err }, 'cannot publish $SYS topics'));
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  #counts(): Record<Counted, number> {
    const s = this.#source.stats;
    const sum = (a: readonly number[]) => a.reduce((x, y) => x + y, 0);
    return {
      'messages/received': s.packetsReceived,
      'messages/sent': s.packetsSent,
      'publish/messages/received': sum(s.messagesReceivedByQos),
      'publish/messages/sent': sum(s.messagesSentByQos),
      'bytes/received': s.bytesReceived,
      'bytes/sent': s.bytesSent,
      connections: s.connectionsTotal,
    };
  }

  #values(now: number): Record<string, string | number> {
    const src = this.#source;
    const counts = this.#counts();
    const totals = src.totals();
    this.#maxConnected = Math.max(this.#maxConnected, src.clientCount);
    const dropped = Object.values(src.stats.dropped).reduce((x, y) => x + y, 0);
    const flow = src.flowStatus();
    const values: Record<string, string | number> = {
      version: `midge version ${src.version}`,
      uptime: `${Math.floor((now - src.stats.startedAt) / 1000)} seconds`,
      'clients/connected': src.clientCount,
      'clients/active': src.clientCount,
      'clients/disconnected': src.sessionCount - src.clientCount,
      'clients/total': src.sessionCount,
      'clients/maximum': this.#maxConnected,
      'subscriptions/count': totals.subscriptions,
      'retained messages/count': src.retainedCount,
      'messages/inflight': totals.inflight,
      'messages/queued': totals.queued,
      'publish/messages/dropped': dropped,
      'publishers/held': flow.publishersHeld,
      'acknowledgements/held': flow.acknowledgementsHeld,
      'queues/deepest': JSON.stringify(src.queueDepths(SYS_QUEUE_DEPTHS)),
      'store/errors': src.stats.storeErrors,
    };
    for (const [name, value] of Object.entries(counts)) if (name !== 'connections') values[name] = value;
    for (const bridge of src.mqttBridges?.status() ?? []) Object.assign(values, bridgeValues(bridge));
    const cluster = src.cluster?.status();
    if (cluster !== undefined) Object.assign(values, clusterValues(cluster));
    this.#addLoads(values, counts, now);
    this.#last = { at: now, counts };
    return values;
  }

  #addLoads(values: Record<string, string | number>, counts: Record<Counted, number>, now: number): void {
    const elapsed = (now - this.#last.at) / 1000;
    if (elapsed <= 0) return;
    for (const [name, count] of Object.entries(counts) as [Counted, number][]) {
      const perMinute = ((count - this.#last.counts[name]) / elapsed) * 60;
      for (const [label, seconds] of WINDOWS) {
        const key = `load/${name.replace('/messages', '')}/${label}`; // Mosquitto: load/publish/received/1min
        let load = this.#loads.get(key);
        if (!load) this.#loads.set(key, (load = new Load(seconds)));
        values[key] = load.update(perMinute, elapsed).toFixed(2);
      }
    }
  }
}

/** One MQTT bridge's $SYS topics: Mosquitto's connection/<name>/state (1 connected, 0 not) and Midge's bridges/<name>/... */
function bridgeValues(b: MqttBridgeStatus): Record<string, string | number> {
  const at = `bridges/${b.name}`;
  return {
    [`connection/${b.name}/state`]: b.state === 'connected' ? 1 : 0,
    [`${at}/state`]: b.state === 'down' && b.reason !== undefined ? `down: ${b.reason}` : b.state,
    [`${at}/backlog/messages`]: b.backlogMessages,
    [`${at}/backlog/bytes`]: b.backlogBytes,
    [`${at}/messages/forwarded/out`]: b.forwardedOut,
    [`${at}/messages/forwarded/in`]: b.forwardedIn,
    [`${at}/messages/dropped`]: Object.values(b.dropped).reduce((x, y) => x + y, 0),
  };
}

/** This node's cluster figures: cluster/nodes, cluster/sessions/owned, cluster/append/... (latencies in ms, once there was an append). */
function clusterValues(c: ClusterStatus): Record<string, string | number> {
  const values: Record<string, string | number> = {
    'cluster/node': c.nodeId,
    'cluster/connected': c.connected ? 1 : 0,
    'cluster/nodes': c.nodesSeen,
    'cluster/sessions/owned': c.sessionsOwned,
    'cluster/append/count': c.append.count,
    'cluster/append/retries': c.append.retries,
    'cluster/append/failures': c.append.failures,
    'cluster/catchup/deferred': c.catchUp.deferred,
    'cluster/catchup/read': c.catchUp.read,
    'cluster/sessions/behind': c.catchUp.behind,
  };
  // An empty retained payload would clear the topic [MQTT-3.3.1-10]: no latency is published before the first append
  if (c.append.p50Ms !== null) values['cluster/append/latency/p50'] = c.append.p50Ms;
  if (c.append.p99Ms !== null) values['cluster/append/latency/p99'] = c.append.p99Ms;
  return values;
}
