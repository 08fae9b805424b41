import { BrokerError } from '../errors.js';
import type { Message } from '../model.js';
import type { LogBackend } from './backend.js';
import type { StreamConfig } from './config.js';
import { decodeRecord, encodeRecord, lastPart, LOG_KEY, offsetOfKey, type LogRecord, type StreamMeta } from './record.js';

/** What `stat` reports about a stream. */
export interface StreamStat {
  readonly name: string;
  /** Lowest offset still kept. */
  readonly first: number;
  /** Offset of the next record. */
  readonly next: number;
  readonly records: number;
  readonly bytes: number;
  /** Retention, when the stream is configured (a stream left on disk by an earlier config has none). */
  readonly maxBytes: number | undefined;
  readonly maxAgeMs: number | undefined;
  /** Committed offsets of consumer groups (the next offset each will read). */
  readonly groups: Readonly<Record<string, number>>;
}

/** Options of `read`. */
export interface ReadOptions {
  /** First offset to read; default the oldest kept. An offset below it reads from the oldest. */
  from?: number;
  /** At most this many records; default 100, at most 10000. */
  limit?: number;
}

/** Options of `follow`. */
export interface FollowOptions extends ReadOptions {
  /** Consumer group: resumes from its committed offset and commits after each batch. */
  group?: string;
  /** Ends the iteration. */
  signal?: AbortSignal;
}

interface StreamState {
  readonly name: string;
  config: StreamConfig | undefined;
  meta: StreamMeta;
  readonly groups: Map<string, number>;
  /** Followers waiting for a record. */
  readonly waiters: Set<() => void>;
}

const MAX_LIMIT = 10_000;
const GROUP_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * The embedded log: named append-only streams with offsets. Appends are queued synchronously in
 * the backend's next group commit (with the LevelDB store: the very commit that makes the message
 * durable); reads go by offset range and see committed records only.
 */
export class Log {
  readonly #backend: LogBackend;
  readonly #configs: readonly StreamConfig[];
  readonly #streams = new Map<string, StreamState>();
  /** Streams appended to since followers were last woken. */
  readonly #dirty = new Set<StreamState>();
  /** Streams whose meta record is to be queued at the end of this task. */
  readonly #metaDirty = new Set<StreamState>();
  #wakeScheduled = false;
  #closed = false;

  constructor(backend: LogBackend, streams: readonly StreamConfig[]) {
    this.#backend = backend;
    this.#configs = streams;
  }

  /** True when committed records survive a crash (the LevelDB store). */
  get durable(): boolean {
    return this.#backend.durable;
  }

  /** Loads every stream's state (configured or found on disk) and the consumer groups' offsets. */
  async open(): Promise<void> {
    try {
      for await (const [key, value] of this.#backend.entries(LOG_KEY.metas)) {
        const name = lastPart(key);
        this.#streams.set(name, { name, config: undefined, meta: JSON.parse(Buffer.from(value).toString()) as StreamMeta, groups: new Map(), waiters: new Set() });
      }
      for (const config of this.#configs) {
        const state = this.#streams.get(config.name);
        if (state) state.config = config;
        else this.#streams.set(config.name, { name: config.name, config, meta: { first: 0, next: 0, bytes: 0 }, groups: new Map(), waiters: new Set() });
      }
      for (const state of this.#streams.values()) await this.#recover(state);
    } catch (err) {
      throw new BrokerError('ERR_LOG_READ', `cannot open the log: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The next offset is past the last record on disk, whatever the meta says. */
  async #recover(state: StreamState): Promise<void> {
    for await (const [key] of this.#backend.entries({ ...LOG_KEY.records(state.name, 0, Number.MAX_SAFE_INTEGER), reverse: true, limit: 1 })) {
      state.meta.next = Math.max(state.meta.next, offsetOfKey(key) + 1);
    }
    for await (const [key, value] of this.#backend.entries(LOG_KEY.groups(state.name))) {
      state.groups.set(lastPart(key), Number(Buffer.from(value).toString()));
    }
  }

  /** True when `stream` exists. */
  has(stream: string): boolean {
    return this.#streams.has(stream);
  }

  /** Names of every stream, configured or left on disk. */
  names(): string[] {
    return [...this.#streams.keys()].sort();
  }

  /** Appends a message to a configured stream, in the next group commit; returns its offset. Synchronous. */
  append(stream: string, message: Message, timestamp: number): number {
    const state = this.#get(stream);
    const offset = state.meta.next++;
    const key = LOG_KEY.record(stream, offset);
    const value = encodeRecord(timestamp, message);
    state.meta.bytes += key.length + value.length;
    this.#backend.put(key, value);
    this.#dirty.add(state);
    if (!this.#metaDirty.has(state)) {
      this.#metaDirty.add(state);
      // Once per task, yet in the same commit as the records: commits start in a later event-loop phase
      queueMicrotask(() => {
        this.#metaDirty.delete(state);
        this.#backend.put(LOG_KEY.meta(stream), Buffer.from(JSON.stringify(state.meta)));
      });
    }
    if (!this.#wakeScheduled) {
      this.#wakeScheduled = true;
      setImmediate(() => this.#wake());
    }
    return offset;
  }

  /** Followers re-read; a read waits for the commit of everything appended before it. */
  #wake(): void {
    this.#wakeScheduled = false;
    for (const state of this.#dirty) {
      for (const waiter of state.waiters) waiter();
      state.waiters.clear();
    }
    this.#dirty.clear();
  }

  /** Committed records of `stream` from `from`, in offset order. */
  async read(stream: string, options: ReadOptions = {}): Promise<LogRecord[]> {
    const state = this.#get(stream);
    const limit = Math.min(Math.max(1, options.limit ?? 100), MAX_LIMIT);
    const end = state.meta.next;
    await this.#backend.flush();
    const from = Math.max(options.from ?? 0, state.meta.first);
    if (from >= end) return [];
    const records: LogRecord[] = [];
    try {
      for await (const [key, value] of this.#backend.entries({ ...LOG_KEY.records(stream, from, end), limit })) {
        records.push(decodeRecord(stream, offsetOfKey(key), value));
      }
    } catch (err) {
      if (this.#closed) throw new BrokerError('ERR_LOG_CLOSED');
      throw new BrokerError('ERR_LOG_READ', `${stream}: ${(err as Error).message}`, { cause: err });
    }
    return records;
  }

  /**
   * Every record from `from` (or the group's committed offset), waiting for new ones, until the
   * signal aborts or the log closes. With a group, the offset is committed after each batch, and
   * when the iteration ends, through the last record it yielded.
   */
  async *follow(stream: string, options: FollowOptions = {}): AsyncGenerator<LogRecord, void, undefined> {
    const { group, signal } = options;
    if (group !== undefined) this.#checkGroup(group);
    let next = options.from ?? (group === undefined ? undefined : this.#get(stream).groups.get(group)) ?? 0;
    let committed = next;
    try {
      while (!this.#closed && !signal?.aborted) {
        if (group !== undefined && next !== committed) await this.commitGroup(stream, group, (committed = next));
        const batch = await this.read(stream, { from: next, limit: options.limit });
        if (batch.length === 0) {
          await this.waitFor(stream, next, signal);
          continue;
        }
        for (const record of batch) {
          next = record.offset + 1;
          yield record;
          if (signal?.aborted) break;
        }
      }
    } finally {
      if (group !== undefined && next !== committed && !this.#closed) await this.commitGroup(stream, group, next);
    }
  }

  /** Resolves once `stream` may hold a record at or after `offset` (or on abort or close). */
  waitFor(stream: string, offset: number, signal?: AbortSignal): Promise<void> {
    const state = this.#get(stream);
    if (state.meta.next > offset || this.#closed || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        state.waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      state.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** A stream's offsets, size, retention and groups. */
  stat(stream: string): StreamStat {
    const { name, meta, config, groups } = this.#get(stream);
    return {
      name,
      first: meta.first,
      next: meta.next,
      records: meta.next - meta.first,
      bytes: meta.bytes,
      maxBytes: config?.maxBytes,
      maxAgeMs: config?.maxAgeMs,
      groups: Object.fromEntries(groups),
    };
  }

  /** Stats of every stream. */
  list(): StreamStat[] {
    return this.names().map((name) => this.stat(name));
  }

  /** The next offset `group` reads, if it committed one. */
  groupOffset(stream: string, group: string): number | undefined {
    return this.#get(stream).groups.get(group);
  }

  /** Stores `group`'s next offset in the log store; resolves once committed. */
  async commitGroup(stream: string, group: string, offset: number): Promise<void> {
    this.#checkGroup(group);
    const state = this.#get(stream);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > state.meta.next) {
      throw new BrokerError('ERR_LOG_READ', `${stream}: offset ${offset} is outside 0..${state.meta.next}`);
    }
    state.groups.set(group, offset);
    this.#backend.put(LOG_KEY.group(stream, group), Buffer.from(String(offset)));
    await this.#backend.flush();
  }

  /** A sink's cursor: the next offset it ships. */
  async cursor(sink: string): Promise<number | undefined> {
    const value = await this.#backend.get(LOG_KEY.cursor(sink));
    return value === undefined ? undefined : Number(Buffer.from(value).toString());
  }

  /** Queues a sink's cursor in the next commit (a cursor lost to a crash only means a resend the engine deduplicates). */
  saveCursor(sink: string, offset: number): void {
    this.#backend.put(LOG_KEY.cursor(sink), Buffer.from(String(offset)));
  }

  /** Retention: removes the records below `upTo` (they must have been read as `freedBytes`). */
  trim(stream: string, upTo: number, freedBytes: number): void {
    const state = this.#get(stream);
    if (upTo <= state.meta.first) return;
    for (let offset = state.meta.first; offset < upTo; offset++) this.#backend.del(LOG_KEY.record(stream, offset));
    state.meta.first = upTo;
    state.meta.bytes = Math.max(0, state.meta.bytes - freedBytes);
    this.#backend.put(LOG_KEY.meta(stream), Buffer.from(JSON.stringify(state.meta)));
  }

  /** The oldest committed records as retention sees them: offset, timestamp and stored size. */
  async head(stream: string, limit: number): Promise<{ offset: number; timestamp: number; size: number }[]> {
    const state = this.#get(stream);
    const out: { offset: number; timestamp: number; size: number }[] = [];
    for await (const [key, value] of this.#backend.entries({ ...LOG_KEY.records(stream, state.meta.first, state.meta.next), limit })) {
      const offset = offsetOfKey(key);
      out.push({ offset, timestamp: decodeRecord(stream, offset, value).timestamp, size: key.length + value.length });
    }
    return out;
  }

  /** Commits what is queued. */
  flush(): Promise<void> {
    return this.#backend.flush();
  }

  /** Wakes every follower; later reads fail with ERR_LOG_CLOSED. */
  close(): void {
    this.#closed = true;
    for (const state of this.#streams.values()) {
      for (const waiter of state.waiters) waiter();
      state.waiters.clear();
    }
  }

  #get(stream: string): StreamState {
    const state = this.#streams.get(stream);
    if (!state) throw new BrokerError('ERR_LOG_STREAM_UNKNOWN', `${JSON.stringify(stream)} (streams: ${this.names().join(', ') || 'none'})`);
    if (this.#closed) throw new BrokerError('ERR_LOG_CLOSED');
    return state;
  }

  #checkGroup(group: string): void {
    if (!GROUP_NAME.test(group)) throw new BrokerError('ERR_LOG_READ', `group name ${JSON.stringify(group)}: use 1 to 128 letters, digits, '.', '_', ':' or '-'`);
  }
}
