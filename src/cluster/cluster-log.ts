/**
 * The log bridge in cluster mode (docs/cluster.md, "The log and sinks"): rule streams are
 * JetStream streams written by the node that accepted each message, sinks run once cluster-wide
 * behind KV leases. The bridge (src/bridge/bridge.ts) hands over to it when the node joins.
 */
import type { Logger } from 'pino';
import type { BridgeConfig, SinkOptions } from '../bridge/config.js';
import type { StreamStat } from '../bridge/log.js';
import type { SinkStatus } from '../bridge/sink-runner.js';
import type { SinkDriver } from '../bridge/sinks/sink.js';
import type { Message } from '../model.js';
import { ClusterRetention } from './log-retention.js';
import { ClusterSinks } from './log-sinks.js';
import { LogStreams, type LogStreamsLink } from './log-streams.js';
import { streamBase } from './streams.js';

/** What the cluster log needs of the node: its NATS connection and who it is. */
export interface ClusterLogLink extends LogStreamsLink {
  readonly owner: { node: string; incarnation: string };
}

/** Cluster options the log uses. */
export interface ClusterLogOptions {
  readonly replicas: number;
  /** A sink's lease lapses when its holder has not renewed it for this long. */
  readonly sinkLeaseMs: number;
}

/** The leases bucket: `<PREFIX>_LEASES`, one key per sink. */
export function leasesBucket(prefix: string): string {
  return `${streamBase(prefix)}_LEASES`;
}

/** About what JetStream stores for a record besides its payload, topic and message id (headers, sequence, time, record header). */
const RECORD_OVERHEAD = 80;

/** Rule streams and leased sinks of one node. */
export class ClusterLog {
  readonly streams: LogStreams;
  readonly #link: ClusterLogLink;
  readonly #config: BridgeConfig;
  readonly #options: ClusterLogOptions;
  readonly #driverFor: (sink: SinkOptions & { name: string; batchSize: number }) => SinkDriver;
  readonly #logger: Logger;
  #sinks: ClusterSinks | undefined;
  /** With the 'block' policy: this node's trimming of the streams. */
  #retention: ClusterRetention | undefined;
  readonly #trimmed: () => void;
  #closed = false;
  /** Resolves once the streams exist; appends wait for it. */
  readonly ready: Promise<void>;
  /** Appends that failed (no client was waiting for them). */
  failures = 0;

  /** `trimmed` is called after each trimming pass of the 'block' policy (the bridge releases withheld acknowledgements). */
  constructor(link: ClusterLogLink, config: BridgeConfig, options: ClusterLogOptions, driverFor: ClusterLog['driverFor'], logger: Logger, trimmed: () => void = () => undefined) {
    this.#link = link;
    this.#config = config;
    this.#options = options;
    this.#driverFor = driverFor;
    this.#logger = logger;
    this.#trimmed = trimmed;
    this.streams = new LogStreams(link, config.streams);
    this.ready = this.#open();
    this.ready.catch((err: unknown) => logger.error({ err }, 'cannot create the log streams in JetStream'));
  }

  get driverFor(): (sink: SinkOptions & { name: string; batchSize: number }) => SinkDriver {
    return this.#driverFor;
  }

  async #open(): Promise<void> {
    const block = this.#config.overflow === 'block';
    await this.streams.open(this.#options.replicas, block);
    const kv = this.#config.sinks.length === 0 ? undefined : await this.#link.js.views.kv(leasesBucket(this.#link.prefix), { history: 1, replicas: this.#options.replicas });
    if (this.#closed) return;
    if (kv !== undefined) {
      this.#sinks = new ClusterSinks(this.#config.sinks, kv, this.#link.owner, this.#options.sinkLeaseMs, this.streams, this.#driverFor, this.#logger);
      this.#sinks.start();
    }
    if (block) {
      const names = new Map<string, string[]>();
      for (const sink of this.#config.sinks) names.set(sink.stream, [...(names.get(sink.stream) ?? []), sink.name]);
      this.#retention = new ClusterRetention(this.#link, this.streams, this.#config.streams, { names, kv }, this.#config.retentionIntervalMs, this.#trimmed, this.#logger);
      this.#retention.start();
    }
  }

  /** The bytes `stream` held when last seen (undefined: not known yet). */
  bytes(stream: string): number | undefined {
    return this.streams.bytes(stream);
  }

  /** One trimming pass now ('block' policy; the background one runs every `retentionIntervalMs`). */
  async trim(now = Date.now()): Promise<void> {
    await this.ready;
    await this.#retention?.run(now);
  }

  /**
   * Appends `message` to `stream` once the streams exist. The message id (`incarnation:message
   * id:stream`) makes JetStream store a retried append once.
   */
  append(stream: string, message: Message, timestamp: number): Promise<void> {
    const msgID = `${this.#link.owner.incarnation}:${message.id}:${stream}`;
    this.streams.grew(stream, message.payload.length + message.topic.length + msgID.length + RECORD_OVERHEAD);
    return this.ready.then(() => this.streams.append(stream, message, timestamp, msgID));
  }

  list(): StreamStat[] {
    return this.streams.list();
  }

  sinkStatus(now: number): SinkStatus[] {
    return this.#sinks?.status(now) ?? [];
  }

  /** Stops the sinks (their leases given up) and the followers. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.ready.catch(() => undefined);
    await this.#retention?.stop();
    await this.#sinks?.close();
    this.streams.close();
  }
}
