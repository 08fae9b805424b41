/**
 * Sinks in cluster mode: each runs on the one node holding its lease (src/cluster/leases.ts),
 * reads the rule stream from JetStream and keeps its position in the lease, so a node that takes
 * the lease over resumes where the last holder's engine had acknowledged (at least once).
 */
import type { KV } from 'nats';
import type { Logger } from 'pino';
import type { SinkOptions } from '../bridge/config.js';
import { SinkRunner, type SinkSource, type SinkStatus } from '../bridge/sink-runner.js';
import type { SinkDriver } from '../bridge/sinks/sink.js';
import { SinkLease } from './leases.js';
import type { LogStreams } from './log-streams.js';

type Sink = SinkOptions & { name: string; batchSize: number };

/** One sink: its lease, and its runner while the lease is held here. */
class LeasedSink {
  readonly #sink: Sink;
  readonly #lease: SinkLease;
  readonly #streams: LogStreams;
  readonly #driver: () => SinkDriver;
  readonly #logger: Logger;
  #runner: SinkRunner | undefined;
  /** The last runner's figures, shown while this node does not hold the lease. */
  #last: SinkStatus | undefined;
  #stopping: Promise<void> = Promise.resolve();
  /** Set by `close`: a lease taken from now on starts no runner (`close` gives it up). */
  #closing = false;

  constructor(sink: Sink, kv: KV, owner: { node: string; incarnation: string }, ttlMs: number, streams: LogStreams, driver: () => SinkDriver, logger: Logger) {
    this.#sink = sink;
    this.#streams = streams;
    this.#driver = driver;
    this.#logger = logger.child({ sink: sink.name });
    this.#lease = new SinkLease(kv, sink.name, owner, ttlMs, {
      acquired: (cursor) => this.#run(cursor),
      lost: (reason) => {
        this.#logger.warn({ reason }, `sink ${sink.name}: lease lost, sink stopped on this node`);
        this.#stop();
      },
      failed: (err) => this.#logger.warn({ err }, `sink ${sink.name}: cannot reach the leases bucket`),
    });
  }

  start(): void {
    this.#lease.start();
  }

  /** Took the lease: a fresh runner starts from the committed position (after the previous one has stopped). */
  #run(cursor: number | undefined): void {
    if (this.#closing) return;
    this.#logger.info({ cursor }, `sink ${this.#sink.name}: lease taken, sink runs on this node`);
    const source: SinkSource = {
      read: (stream, options) => this.#streams.read(stream, options),
      waitFor: (stream, offset, signal) => this.#streams.waitFor(stream, offset, signal),
      cursor: async () => cursor,
      saveCursor: (_sink, offset) => this.#lease.saveCursor(offset),
      has: (stream) => this.#streams.has(stream),
      stat: (stream) => this.#streams.stat(stream),
      countsGaps: true,
    };
    const runner = new SinkRunner(this.#sink, source, this.#driver(), this.#logger);
    this.#runner = runner;
    void this.#stopping.then(() => (this.#runner === runner ? runner.start() : undefined)).catch((err: unknown) => this.#logger.error({ err }, 'sink start failed'));
  }

  #stop(): void {
    const runner = this.#runner;
    if (!runner) return;
    this.#runner = undefined;
    this.#last = runner.status();
    this.#stopping = this.#stopping.then(() => runner.stop());
  }

  status(now: number): SinkStatus {
    const lease = this.#lease.status();
    if (this.#runner) return { ...this.#runner.status(now), lease };
    const base = this.#last ?? { name: this.#sink.name, type: this.#sink.type, stream: this.#sink.stream, cursor: 0, lagRecords: 0, lagSeconds: 0, shipped: 0, dropped: 0, failures: 0, lastError: undefined };
    return { ...base, state: 'stopped', lagRecords: 0, lagSeconds: 0, lease };
  }

  async close(): Promise<void> {
    this.#closing = true;
    this.#stop();
    await this.#stopping;
    await this.#lease.stop();
  }
}

/** Every configured sink of a cluster node, each behind its lease. */
export class ClusterSinks {
  readonly #sinks: LeasedSink[];

  constructor(sinks: readonly Sink[], kv: KV, owner: { node: string; incarnation: string }, ttlMs: number, streams: LogStreams, driverFor: (sink: Sink) => SinkDriver, logger: Logger) {
    this.#sinks = sinks.map((s) => new LeasedSink(s, kv, owner, ttlMs, streams, () => driverFor(s), logger));
  }

  start(): void {
    for (const sink of this.#sinks) sink.start();
  }

  status(now = Date.now()): SinkStatus[] {
    return this.#sinks.map((s) => s.status(now));
  }

  /** Stops the runners, saves their positions and gives the leases up. */
  async close(): Promise<void> {
    await Promise.all(this.#sinks.map((s) => s.close()));
  }
}
