/**
 * The log bridge's streams in cluster mode: one JetStream stream per rule stream, written by
 * whichever node accepted the message and read from any node (`midge log`, sinks). A record's
 * offset is its stream sequence (the first record is 1); the record bytes are the single-process
 * log's encoding (src/bridge/record.ts).
 */
import type { JetStreamClient, JetStreamManager, NatsConnection, StreamInfo, Subscription } from 'nats';
import { BrokerError } from '../errors.js';
import { APPEND_TIMEOUT_MS, appendWithRetry } from './appender.js';
import type { StreamConfig } from '../bridge/config.js';
import type { StreamStat } from '../bridge/log.js';
import { decodeRecord, encodeRecord, type LogRecord } from '../bridge/record.js';
import type { Message } from '../model.js';
import { ensureStream, streamBase } from './streams.js';
import { levelToken } from './subjects.js';

/** The JetStream stream of rule stream `name`: `<PREFIX>_LOG_<name>`, with '.' (not allowed there) written '='. */
export function logStreamName(prefix: string, name: string): string {
  return `${streamBase(prefix)}_LOG_${name.replaceAll('.', '=')}`;
}

/** The rule stream a JetStream stream name holds, or undefined for another stream. */
export function ruleStreamOf(prefix: string, streamName: string): string | undefined {
  const head = `${streamBase(prefix)}_LOG_`;
  return streamName.startsWith(head) ? streamName.slice(head.length).replaceAll('=', '.') : undefined;
}

/** The subject rule stream `name` is written on: `<prefix>.log.<name as one token>`. */
export function logSubject(prefix: string, name: string): string {
  return `${prefix}.log.${levelToken(name)}`;
}

/** JetStream's duplicate window for the log streams: retries of one append inside it are stored once. */
const DUPLICATE_WINDOW_MS = 120_000;
/** A follower re-reads the stream at least this often, even without a notice on the subject. */
const POLL_MS = 1000;
const MAX_LIMIT = 10_000;

/** What the streams need of the cluster's NATS connection. */
export interface LogStreamsLink {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly prefix: string;
}

/** The rule streams of a cluster, as JetStream streams. */
export class LogStreams {
  readonly #link: LogStreamsLink;
  readonly #configs: readonly StreamConfig[];
  /** Last known state per rule stream (refreshed by reads and follows). */
  readonly #stats = new Map<string, StreamStat>();
  /** Bytes appended to a stream before its state was first read (while the streams open). */
  readonly #early = new Map<string, number>();
  readonly #waiters = new Map<string, Set<() => void>>();
  #notices: Subscription | undefined;
  #closed = false;

  constructor(link: LogStreamsLink, configs: readonly StreamConfig[]) {
    this.#link = link;
    this.#configs = configs;
  }

  /**
   * Creates the configured streams and follows appends. Retention: maxAge → max_age, maxBytes →
   * max_bytes, oldest dropped first; with `block`, JetStream gets no limits and the nodes trim
   * the streams themselves, never past a sink's position (src/cluster/log-retention.ts). A stream
   * that exists with other limits (the config changed) gets this config's.
   */
  async open(replicas: number, block = false): Promise<void> {
    const { jsm, prefix, nc } = this.#link;
    for (const c of this.#configs) {
      const maxAgeNs = block ? 0 : c.maxAgeMs * 1e6;
      const limits = {
        max_bytes: block ? -1 : c.maxBytes,
        max_age: maxAgeNs,
        // The window may not exceed max_age (0 is no age limit)
        duplicate_window: maxAgeNs > 0 ? Math.min(maxAgeNs, DUPLICATE_WINDOW_MS * 1e6) : DUPLICATE_WINDOW_MS * 1e6,
      };
      const name = logStreamName(prefix, c.name);
      await ensureStream(jsm, { name, subjects: [logSubject(prefix, c.name)], num_replicas: replicas, ...limits });
      const { config } = await jsm.streams.info(name);
      if (config.max_bytes !== limits.max_bytes || config.max_age !== limits.max_age) await jsm.streams.update(name, limits);
      await this.refresh(c.name);
    }
    this.#notices = nc.subscribe(`${prefix}.log.>`, { callback: (err, msg) => err || this.#wake(msg.subject) });
  }

  /** Names of the configured rule streams. */
  names(): string[] {
    return this.#configs.map((c) => c.name).sort();
  }

  /** True when `stream` is a configured rule stream. */
  has(stream: string): boolean {
    return this.#configs.some((c) => c.name === stream);
  }

  /**
   * Appends a record of `message`, retrying with the same message id (JetStream stores it once)
   * while the stream has no leader or NATS is unreachable; resolves once stored.
   */
  async append(stream: string, message: Message, timestamp: number, msgID: string): Promise<void> {
    const subject = logSubject(this.#link.prefix, stream);
    const data = encodeRecord(timestamp, message);
    const attempt = async () => {
      await this.#link.js.publish(subject, data, { msgID, timeout: APPEND_TIMEOUT_MS });
    };
    await appendWithRetry(attempt, () => this.#closed, `log stream ${stream}: `);
  }

  /**
   * Counts a record being appended into the stream's last known size at once (about its stored
   * size: payload, topic and headers), so the 'block' policy sees a stream fill before the next
   * refresh tells its exact size.
   */
  grew(stream: string, bytes: number): void {
    const stat = this.#stats.get(stream);
    if (stat !== undefined) this.#stats.set(stream, { ...stat, bytes: stat.bytes + bytes });
    else this.#early.set(stream, (this.#early.get(stream) ?? 0) + bytes);
  }

  /** The stream's size as last known or counted (see `grew`); undefined for an unknown stream. */
  bytes(stream: string): number | undefined {
    return this.#stats.get(stream)?.bytes ?? this.#early.get(stream);
  }

  /** Stored records of `stream` from sequence `from` (default the oldest kept), at most `limit` (default 100). */
  async read(stream: string, options: { from?: number; limit?: number } = {}): Promise<LogRecord[]> {
    return readStream(this.#link, stream, options, (stat) => this.#stats.set(stream, stat), this.#config(stream));
  }

  /** Resolves once `stream` may hold a record at or after `offset` (a notice, at most POLL_MS later, or abort). */
  async waitFor(stream: string, offset: number, signal?: AbortSignal): Promise<void> {
    if ((this.#stats.get(stream)?.next ?? 0) > offset || this.#closed || signal?.aborted) return;
    const subject = logSubject(this.#link.prefix, stream);
    await new Promise<void>((resolve) => {
      const waiters = this.#waiters.get(subject) ?? new Set();
      this.#waiters.set(subject, waiters);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, POLL_MS);
      waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
    if (!this.#closed && !signal?.aborted) await this.refresh(stream).catch(() => undefined);
  }

  #wake(subject: string): void {
    const waiters = this.#waiters.get(subject);
    if (waiters) for (const done of [...waiters]) done();
  }

  /** Re-reads the stream's state from JetStream. */
  async refresh(stream: string): Promise<StreamStat> {
    const info = await this.#link.jsm.streams.info(logStreamName(this.#link.prefix, stream));
    const stat = statOf(stream, info, this.#config(stream));
    this.#stats.set(stream, stat);
    this.#early.delete(stream);
    return stat;
  }

  /** The stream's last known state (synchronous, for status and lag). */
  stat(stream: string): StreamStat {
    const stat = this.#stats.get(stream);
    if (!stat) throw new BrokerError('ERR_LOG_STREAM_UNKNOWN', `${JSON.stringify(stream)} (streams: ${this.names().join(', ') || 'none'})`);
    return stat;
  }

  /** Last known state of every configured stream. */
  list(): StreamStat[] {
    return this.names().flatMap((name) => this.#stats.get(name) ?? []);
  }

  #config(stream: string): StreamConfig | undefined {
    return this.#configs.find((c) => c.name === stream);
  }

  /** Stops following; waiting followers return. */
  close(): void {
    this.#closed = true;
    this.#notices?.unsubscribe();
    for (const waiters of this.#waiters.values()) for (const done of [...waiters]) done();
  }
}

/** A JetStream stream's state as the log reports it: offsets are sequences, `next` is one past the last. */
export function statOf(name: string, info: StreamInfo, config: StreamConfig | undefined): StreamStat {
  const { state } = info;
  return {
    name,
    first: state.messages === 0 ? state.last_seq + 1 : state.first_seq,
    next: state.last_seq + 1,
    records: state.messages,
    bytes: state.bytes,
    maxBytes: config?.maxBytes ?? (info.config.max_bytes > 0 ? info.config.max_bytes : undefined),
    maxAgeMs: config?.maxAgeMs ?? info.config.max_age / 1e6,
    groups: {},
  };
}

/**
 * Reads up to `limit` stored records of rule stream `stream` from sequence `from`, with an ordered
 * consumer (no durable state on the server); `seen` gets the stream's state read for it.
 */
export async function readStream(
  link: Pick<LogStreamsLink, 'js' | 'jsm' | 'prefix'>,
  stream: string,
  options: { from?: number; limit?: number },
  seen: (stat: StreamStat) => void = () => undefined,
  config?: StreamConfig,
): Promise<LogRecord[]> {
  const name = logStreamName(link.prefix, stream);
  let info: StreamInfo;
  try {
    info = await link.jsm.streams.info(name);
  } catch (err) {
    if (/not found/i.test((err as Error).message)) throw new BrokerError('ERR_LOG_STREAM_UNKNOWN', `${JSON.stringify(stream)} (no JetStream stream ${name})`);
    throw new BrokerError('ERR_LOG_READ', `${stream}: ${(err as Error).message}`, { cause: err });
  }
  const stat = statOf(stream, info, config);
  seen(stat);
  const limit = Math.min(Math.max(1, options.limit ?? 100), MAX_LIMIT);
  const from = Math.max(options.from ?? 0, stat.first);
  if (from >= stat.next || stat.records === 0) return [];
  const { DeliverPolicy } = await import('nats');
  const consumer = await link.js.consumers.get(name, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from });
  const wanted = Math.min(limit, stat.next - from);
  const records: LogRecord[] = [];
  const messages = await consumer.fetch({ max_messages: wanted, expires: 5000 });
  for await (const m of messages) {
    records.push(decodeRecord(stream, m.seq, m.data));
    if (records.length >= wanted || m.seq >= stat.next - 1) break;
  }
  await messages.close();
  return records;
}
