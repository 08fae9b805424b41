/**
 * The `block` overflow policy in cluster mode: the rule streams carry no JetStream limits, and
 * every node trims them itself, one pass per `retentionIntervalMs`, never past the lowest position
 * of a sink reading the stream (the positions are in the sinks' leases, src/cluster/leases.ts).
 * A purge removes the records below a sequence, so two nodes trimming at once cannot remove more
 * than either would. The bridge withholds acknowledgements while a stream is over its `maxBytes`
 * (src/bridge/bridge.ts) and releases them after the pass that finds it back within.
 */
import type { KV } from 'nats';
import type { Logger } from 'pino';
import type { StreamConfig } from '../bridge/config.js';
import { RetentionLoop } from '../bridge/retention.js';
import type { LeaseRecord } from './leases.js';
import { logStreamName, type LogStreams, type LogStreamsLink } from './log-streams.js';

/** What the trimming needs to know of the sinks: their names per rule stream, and the leases bucket. */
export interface TrimSinks {
  readonly names: ReadonlyMap<string, readonly string[]>;
  readonly kv: KV | undefined;
}

export class ClusterRetention {
  readonly #link: LogStreamsLink;
  readonly #streams: LogStreams;
  readonly #sinks: TrimSinks;
  readonly #loop: RetentionLoop;

  constructor(link: LogStreamsLink, streams: LogStreams, configs: readonly StreamConfig[], sinks: TrimSinks, intervalMs: number, passed: () => void, logger: Logger) {
    this.#link = link;
    this.#streams = streams;
    this.#sinks = sinks;
    const fail = (err: unknown, stream: StreamConfig) => logger.warn({ err, stream: stream.name }, 'log retention in JetStream failed; trying again');
    this.#loop = new RetentionLoop(configs, intervalMs, (config, now) => this.#trim(config, now), passed, fail);
  }

  start(): void {
    this.#loop.start();
  }

  /** One pass over every stream; a failure is logged and the next pass tries again. */
  async run(now = Date.now()): Promise<void> {
    await this.#loop.run(now);
  }

  /** The lowest next sequence any sink of `stream` has to ship (undefined: no sink reads it). */
  async #protectedFrom(stream: string, first: number): Promise<number | undefined> {
    const names = this.#sinks.names.get(stream) ?? [];
    if (names.length === 0) return undefined;
    const kv = this.#sinks.kv;
    if (kv === undefined) return first;
    let lowest: number | undefined;
    for (const name of names) {
      const entry = await kv.get(name);
      // A sink that has shipped nothing yet starts from the oldest record: it protects them all
      const cursor = entry?.operation === 'PUT' ? entry.json<LeaseRecord>().cursor : undefined;
      const from = cursor ?? first;
      if (lowest === undefined || from < lowest) lowest = from;
    }
    return lowest;
  }

  async #trim(config: StreamConfig, now: number): Promise<void> {
    const stat = await this.#streams.refresh(config.name);
    if (stat.records === 0) return;
    const protect = await this.#protectedFrom(config.name, stat.first);
    const limit = protect === undefined ? stat.next : Math.min(protect, stat.next);
    let upTo = stat.first;
    const excess = stat.bytes - config.maxBytes;
    // Records have no size in the stream's state: the average one's decides how many go
    if (excess > 0) upTo = stat.first + Math.ceil(excess / (stat.bytes / stat.records));
    if (config.maxAgeMs > 0) upTo = Math.max(upTo, await this.#firstAfter(config.name, stat.first, limit, now - config.maxAgeMs));
    upTo = Math.min(upTo, limit);
    if (upTo <= stat.first || this.#loop.stopped) return;
    await this.#link.jsm.streams.purge(logStreamName(this.#link.prefix, config.name), { seq: upTo });
    await this.#streams.refresh(config.name);
  }

  /** The first sequence in [from, to) stored at or after `cutoff` (to when none): a binary search on the stored times. */
  async #firstAfter(stream: string, from: number, to: number, cutoff: number): Promise<number> {
    const name = logStreamName(this.#link.prefix, stream);
    let low = from;
    let high = to;
    while (low < high) {
      const mid = Math.floor((low + high) / 2);
      const stored = await this.#link.jsm.streams.getMessage(name, { seq: mid });
      if (stored.time.getTime() < cutoff) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  async stop(): Promise<void> {
    await this.#loop.stop();
  }
}
