import type { Logger } from 'pino';
import type { Plugin } from '../hooks.js';
import type { ClientInfo, Message } from '../model.js';
import type { Store } from '../store/store.js';
import { AdminServer, adminSocketPath } from './admin.js';
import { MemoryBackend } from './backend.js';
import type { BridgeConfig, SinkOptions } from './config.js';
import { Log } from './log.js';
import { Retention } from './retention.js';
import { Rules } from './rules.js';
import { SinkRunner, type SinkStatus } from './sink-runner.js';
import { KafkaSink, type KafkaProducerFactory } from './sinks/kafka.js';
import { NatsSink } from './sinks/nats.js';
import { RedisSink } from './sinks/redis.js';
import type { SinkDriver } from './sinks/sink.js';
import { chainHold } from '../cluster/ack-order.js';
import { ClusterLog, type ClusterLogLink, type ClusterLogOptions } from '../cluster/cluster-log.js';

/** What `broker.bridge.status()` returns. */
export interface BridgeStatus {
  readonly streams: ReturnType<Log['list']>;
  readonly sinks: SinkStatus[];
  /** Messages whose QoS 1/2 acknowledgement is withheld by the 'block' policy right now. */
  readonly blocked: number;
}

/** Test seams: drivers to use instead of the real clients. */
export interface BridgeSeams {
  kafkaProducer?: KafkaProducerFactory;
}

/**
 * The bridge, an ordinary plugin: it observes published messages (onPublished) and rules put them
 * into log streams; retention trims them, sinks ship them; with the 'block' policy it holds
 * acknowledgements (holdAcknowledgement) while a stream is full.
 * With the LevelDB store the log lives in the store's database and its appends join the store's
 * group commit; with any other store it is kept in memory.
 */
export class Bridge implements Plugin {
  readonly name = 'log-bridge';
  readonly log: Log;
  readonly #config: BridgeConfig;
  readonly #rules: Rules;
  readonly #logger: Logger;
  readonly #sinks: SinkRunner[];
  readonly #retention: Retention;
  readonly #admin: AdminServer | undefined;
  /** Per blocked stream, acknowledgements waiting for space. */
  readonly #blocked = new Map<string, (() => void)[]>();
  /** Per client id, the last withheld acknowledgement. */
  readonly #barriers = new Map<string, Promise<void>>();
  #open = false;
  /** Cluster mode: the log's options until the node joins, then the JetStream log. */
  readonly #clusterOptions: ClusterLogOptions | undefined;
  readonly #seams: BridgeSeams;
  #cluster: ClusterLog | undefined;
  /** Cluster mode, per publishing client: its latest captured QoS 1/2 message's appends. */
  readonly #tails = new Map<string, Promise<void>>();
  /** Cluster mode: the hold of the message the log captured in this turn, by client (its acknowledgement asks for it next). */
  readonly #captured = new Map<string, Promise<void>>();

  constructor(config: BridgeConfig, store: Store, logger: Logger, seams: BridgeSeams = {}, cluster?: ClusterLogOptions) {
    this.#config = config;
    this.#clusterOptions = cluster;
    this.#seams = seams;
    this.#logger = logger.child({ component: 'bridge' });
    const backend = store.logBackend?.() ?? new MemoryBackend();
    this.log = new Log(backend, config.streams);
    this.#rules = new Rules(config.rules);
    this.#sinks = config.sinks.map((s) => new SinkRunner(s, this.log, driverFor(s, seams), this.#logger));
    const policy = {
      block: config.overflow === 'block',
      protectedFrom: (stream: string) => this.#lowestCursor(stream),
      dropped: (stream: string, from: number, upTo: number) => this.#dropped(stream, from, upTo),
      passed: () => this.#release(),
    };
    this.#retention = new Retention(this.log, config.streams, policy, this.#logger, config.retentionIntervalMs);
    // The admin socket lives in the store's directory, so `midge log` finds it from --data-dir
    const location = config.admin && cluster === undefined && store.logBackend !== undefined && config.streams.length > 0 ? store.location : undefined;
    this.#admin = location !== undefined ? new AdminServer(adminSocketPath(location), this.log, () => this.status(), this.#logger) : undefined;
  }

  /** Opens the log, starts sinks, retention and the admin socket (after the store has opened). */
  async open(): Promise<void> {
    if (this.#clusterOptions !== undefined) {
      // The streams and sinks start when the node joins the cluster (joinCluster)
      this.#open = true;
      return;
    }
    await this.log.open();
    for (const sink of this.#sinks) await sink.start();
    this.#retention.start();
    await this.#admin?.listen().catch((err: unknown) => {
      // The broker serves MQTT without it; `midge log` then reads only a stopped broker's directory
      this.#logger.error({ err, path: this.#admin?.path }, 'cannot open the admin socket');
    });
    this.#open = true;
  }

  /**
   * Appends a published message to every stream a rule sends it to. Synchronous, in the same
   * event-loop turn as the routing: same commit as the message [bridge: acknowledged implies in the log].
   */
  onPublished(message: Message, client?: ClientInfo): void {
    if (this.#rules.size === 0 || !this.#open) return;
    const streams = this.#rules.match(message.topic, message.qos);
    if (!streams) return;
    const now = Date.now();
    if (this.#clusterOptions !== undefined) return this.#appendToCluster(streams, message, client, now);
    for (const stream of streams) this.log.append(stream, message, now);
  }

  /** Cluster mode: the node joined; its rule streams and sinks live in JetStream from now on. */
  joinCluster(link: ClusterLogLink): void {
    const options = this.#clusterOptions;
    if (options === undefined || this.#cluster !== undefined) return;
    this.#cluster = new ClusterLog(link, this.#config, options, (s) => driverFor(s, this.#seams), this.#logger, () => this.#release());
  }

  /**
   * Cluster mode: appends to JetStream. A client's QoS 1/2 acknowledgement waits for these appends
   * and for its earlier ones (holdAcknowledgement), as it waits for the log's commit in one process.
   */
  #appendToCluster(streams: string[], message: Message, client: ClientInfo | undefined, now: number): void {
    const cluster = this.#cluster;
    if (cluster === undefined) {
      this.#logger.error({ topic: message.topic }, 'the log is not in JetStream yet (the node has not joined): message not logged');
      return;
    }
    const appends = Promise.all(streams.map((stream) => cluster.append(stream, message, now))).then(() => undefined);
    const waited = client !== undefined && message.qos > 0;
    appends.catch((err: unknown) => {
      if (waited) return; // the publisher's acknowledgement carries the failure
      cluster.failures++;
      this.#logger.error({ err, topic: message.topic }, 'cannot append a message to the log streams in JetStream');
    });
    if (!waited) return;
    // Asked for by this message's acknowledgement, in this same turn (holdAcknowledgement)
    this.#captured.set(client.id, chainHold(this.#tails, client.id, appends));
    queueMicrotask(() => this.#captured.delete(client.id));
  }

  /**
   * With the 'block' policy: a promise the QoS 1/2 acknowledgement of `message` waits on, until
   * every stream it went to is back within retention; undefined when nothing is withheld. Later
   * acknowledgements to the same client wait too, so they keep their order [MQTT-4.6.0-2].
   */
  holdAcknowledgement(client: ClientInfo, message: Message): Promise<void> | undefined {
    if (message.qos === 0) return undefined;
    const space = this.#config.overflow === 'block' ? this.#spaceFor(client, message) : undefined;
    if (this.#clusterOptions === undefined) return space;
    // Cluster mode: also the JetStream appends of this message, or the settling of the client's earlier ones
    const tail = this.#clusterHold(client.id);
    if (space === undefined || tail === undefined) return space ?? tail;
    return Promise.all([tail, space]).then(() => undefined);
  }

  /** With the 'block' policy: waits until every stream `message` goes to is within retention, after the client's earlier waits. */
  #spaceFor(client: ClientInfo, message: Message): Promise<void> | undefined {
    const previous = this.#barriers.get(client.id);
    const full = this.#rules.match(message.topic, message.qos)?.filter((name) => this.#isFull(name)) ?? [];
    if (full.length === 0) return previous;
    const waits = full.map((name) => new Promise<void>((resolve) => this.#waitForSpace(name, resolve)));
    const barrier: Promise<void> = Promise.all([previous, ...waits]).then(() => {
      if (this.#barriers.get(client.id) === barrier) this.#barriers.delete(client.id);
    });
    this.#barriers.set(client.id, barrier);
    return barrier;
  }

  /**
   * Cluster mode: a message the log captured waits for its appends and the client's earlier ones
   * (failing with its own appends only); one it did not capture waits for the earlier ones to
   * settle, for the order, but does not inherit their failure.
   */
  #clusterHold(clientId: string): Promise<void> | undefined {
    const captured = this.#captured.get(clientId);
    if (captured !== undefined) {
      this.#captured.delete(clientId);
      return captured;
    }
    const tail = this.#tails.get(clientId);
    return tail?.then(
      () => undefined,
      () => undefined,
    );
  }

  #isFull(name: string): boolean {
    const config = this.#config.streams.find((s) => s.name === name);
    if (config === undefined) return false;
    const bytes = this.#clusterOptions !== undefined ? this.#cluster?.bytes(name) : this.log.stat(name).bytes;
    return bytes !== undefined && bytes > config.maxBytes;
  }

  #waitForSpace(name: string, resolve: () => void): void {
    const waiting = this.#blocked.get(name) ?? [];
    waiting.push(resolve);
    this.#blocked.set(name, waiting);
    this.#logger.debug({ stream: name, waiting: waiting.length }, 'acknowledgement withheld: stream full');
  }

  /** Releases withheld acknowledgements of streams back within retention (after a retention pass). */
  #release(): void {
    for (const [name, waiting] of this.#blocked) {
      if (this.#isFull(name)) continue;
      this.#blocked.delete(name);
      for (const resolve of waiting) resolve();
    }
  }

  /** Closing: the acknowledgements 'block' withholds go (their messages are stored; no pass will release them). */
  #releaseAll(): void {
    for (const waiting of this.#blocked.values()) for (const resolve of waiting) resolve();
    this.#blocked.clear();
  }

  /** One retention pass now (the background one runs every `retentionIntervalMs`). */
  async enforceRetention(now = Date.now()): Promise<void> {
    if (this.#clusterOptions !== undefined) return this.#cluster?.trim(now);
    await this.#retention.run(now);
  }

  #lowestCursor(stream: string): number | undefined {
    let lowest: number | undefined;
    for (const sink of this.#sinks) {
      if (sink.stream === stream && (lowest === undefined || sink.cursor < lowest)) lowest = sink.cursor;
    }
    return lowest;
  }

  #dropped(stream: string, from: number, upTo: number): void {
    for (const sink of this.#sinks) {
      if (sink.stream !== stream || sink.cursor >= upTo) continue;
      const count = upTo - Math.max(from, sink.cursor);
      sink.dropped(count);
      this.#logger.warn({ stream, sink: sink.name, count }, 'retention removed records the sink had not shipped');
    }
  }

  /** Streams, and per sink its state and lag in records and seconds (for metrics). */
  status(now = Date.now()): BridgeStatus {
    let blocked = 0;
    for (const waiting of this.#blocked.values()) blocked += waiting.length;
    if (this.#clusterOptions !== undefined) return { streams: this.#cluster?.list() ?? [], sinks: this.#cluster?.sinkStatus(now) ?? [], blocked };
    return { streams: this.#open ? this.log.list() : [], sinks: this.#sinks.map((s) => s.status(now)), blocked };
  }

  /** Stops the admin socket, sinks and retention, and releases followers (before the store closes). */
  async close(): Promise<void> {
    if (!this.#open) return;
    this.#open = false;
    if (this.#clusterOptions !== undefined) {
      // Appends under way finish or fail on their own (a closed log stops retrying them)
      await this.#cluster?.close();
      this.#releaseAll();
      return;
    }
    await this.#admin?.close();
    await Promise.all(this.#sinks.map((s) => s.stop()));
    await this.#retention.stop();
    this.#releaseAll();
    await this.log.flush();
    this.log.close();
  }
}

function driverFor(sink: SinkOptions, seams: BridgeSeams): SinkDriver {
  if (sink.type === 'nats') return new NatsSink(sink);
  if (sink.type === 'redis') return new RedisSink(sink);
  return new KafkaSink(sink, seams.kafkaProducer);
}
