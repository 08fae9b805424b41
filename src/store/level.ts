import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { BrokerError } from '../errors.js';
import type { Message } from '../model.js';
import { decodeDelivery, decodeMessage, decodeSession, encodeDelivery, encodeMessage, encodeSession, FORMAT_VERSION } from './records.js';
import type { BacklogRecord, DeliveryRecord, InboundRecord, SessionRecord, Store, StoredState, KeyRange, LogBackend } from './store.js';

/** How commits reach the disk. */
export type Durability = 'fsync' | 'batch' | 'none';

/** Commit figures, for benchmarks and metrics. */
export interface CommitStats {
  commits: number;
  operations: number;
  /** Sum of commit latencies in ms (divide by commits for the mean). */
  latencyMs: number;
  maxLatencyMs: number;
  maxBatch: number;
  errors: number;
}

/** A pending write; `fresh` means the key is not on disk (so a later delete cancels both). */
type Op = { type: 'put'; value: Uint8Array; fresh: boolean } | { type: 'del' };

const SEP = '\u0000'; // never part of a client id or topic [MQTT-1.5.4-2]
const KEY = {
  format: `meta${SEP}format`,
  nextMessageId: `meta${SEP}nextMessageId`,
  session: (clientId: string) => `s${SEP}${clientId}`,
  frontier: (clientId: string) => `f${SEP}${clientId}`,
  retained: (topic: string) => `r${SEP}${topic}`,
  message: (id: number) => `m${SEP}${id.toString(16).padStart(14, '0')}`,
  delivery: (clientId: string, seq: number) => `d${SEP}${clientId}${SEP}${seq.toString(16).padStart(14, '0')}`,
  inbound: (clientId: string, packetId: number) => `i${SEP}${clientId}${SEP}${packetId.toString(16).padStart(4, '0')}`,
};
/** The client id inside a delivery key `d SEP clientId SEP seq`. */
function clientIdOfDelivery(key: string): string {
  return key.slice(2, key.lastIndexOf(SEP));
}

/** Every key starting with `prefix` and SEP (SEP is U+0000, so U+0001 bounds the range). */
function prefixRange(prefix: string): { gte: string; lt: string } {
  return { gte: `${prefix}${SEP}`, lt: `${prefix}\u0001` };
}

/** How often `batch` durability syncs what was written since the last sync. */
const BATCH_SYNC_MS = 5;

/**
 * The LevelDB store. Writes of one event-loop turn go into one batch with one sync (group commit);
 * a commit starts when the previous one has finished, so commits complete in order.
 */
export class LevelStore implements Store {
  readonly durable: boolean;
  readonly path: string;
  readonly stats: CommitStats = { commits: 0, operations: 0, latencyMs: 0, maxLatencyMs: 0, maxBatch: 0, errors: 0 };
  readonly #db: ClassicLevel<string, Uint8Array>;
  readonly #durability: Durability;
  readonly #onError: (err: Error) => void;
  /** Writes since the last commit, one per key (a later write to a key replaces the earlier one). */
  #ops = new Map<string, Op>();
  #waiter: { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } | undefined;
  #scheduled = false;
  #committing = false;
  #unsynced = false;
  #syncTimer: NodeJS.Timeout | undefined;
  #idFloor = 0;
  /** Told of each commit (writes in it, milliseconds it took), for metrics. */
  #onCommit: ((operations: number, ms: number) => void) | undefined;

  /**
   * `onError` hears of failures no caller waits for: a commit nobody called `flush()` for (e.g. a
   * retained message from a QoS 0 publish, a session saved after SUBACK), and the periodic sync
   * of `batch` durability.
   */
  constructor(path: string, durability: Durability = 'fsync', onError: (err: Error) => void = () => undefined) {
    this.path = path;
    this.#durability = durability;
    this.#onError = onError;
    this.durable = durability !== 'none';
    this.#db = new ClassicLevel<string, Uint8Array>(path, { keyEncoding: 'utf8', valueEncoding: 'view' });
  }

  /** The database directory. */
  get location(): string {
    return this.path;
  }

  observeCommits(observer: (operations: number, ms: number) => void): void {
    this.#onCommit = observer;
  }

  async open(options: { queuePage?: number } = {}): Promise<StoredState> {
    prepareDirectory(this.path);
    try {
      await this.#db.open();
    } catch (err) {
      const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
      const hint = /lock/i.test(cause) ? ' (is another Midge using this data directory?)' : '';
      throw new BrokerError('ERR_STORE_OPEN', `${this.path}: ${cause}${hint}`, { cause: err });
    }
    await this.#checkFormat();
    try {
      return await this.#readAll(options.queuePage ?? Number.POSITIVE_INFINITY);
    } catch (err) {
      throw new BrokerError('ERR_STORE_OPEN', `${this.path}: corrupt record: ${(err as Error).message}`, { cause: err });
    }
  }

  async #checkFormat(): Promise<void> {
    const raw = await this.#db.get(KEY.format);
    if (raw === undefined) {
      for await (const _ of this.#db.keys({ limit: 1 })) {
        throw new BrokerError('ERR_STORE_FORMAT', `${this.path} holds data without a Midge format marker`);
      }
      await this.#db.put(KEY.format, Buffer.from(String(FORMAT_VERSION)), { sync: true });
      return;
    }
    const version = Number(Buffer.from(raw).toString());
    if (version !== FORMAT_VERSION) {
      const newer = version > FORMAT_VERSION ? ' written by a newer Midge' : '';
      throw new BrokerError('ERR_STORE_FORMAT', `${this.path} has format ${version}${newer}; this Midge reads format ${FORMAT_VERSION}`);
    }
  }

  /**
   * Reads everything but the queued deliveries beyond `queuePage` per session: those are only
   * counted (with their message references) and left on disk for paging.
   */
  async #readAll(queuePage: number): Promise<StoredState> {
    const sessions: SessionRecord[] = [];
    const retained: Message[] = [];
    const inbound: InboundRecord[] = [];
    const floor = await this.#db.get(KEY.nextMessageId);
    const nextMessageId = floor === undefined ? 1 : Number(Buffer.from(floor).toString());
    for await (const value of this.#db.values(prefixRange('i'))) inbound.push(JSON.parse(Buffer.from(value).toString()) as InboundRecord);
    for await (const value of this.#db.values(prefixRange('r'))) retained.push(decodeMessage(value));
    for await (const value of this.#db.values(prefixRange('s'))) sessions.push(decodeSession(value));
    const frontiers = new Map<string, number>();
    for await (const [key, value] of this.#db.iterator(prefixRange('f'))) frontiers.set(key.slice(2), Buffer.from(value).readDoubleBE(0));
    const queues = await this.#readDeliveryIndex(queuePage);
    const messages = await this.#readMessages(new Set(queues.deliveries.map((d) => d.messageId)));
    this.#idFloor = nextMessageId;
    return { sessions, retained, inbound, frontiers, nextMessageId, messages, ...queues };
  }

  /** Delivery records in key order (client, then seq): in-flight ones and the first page of each queue are kept. */
  async #readDeliveryIndex(queuePage: number): Promise<Pick<StoredState, 'deliveries' | 'backlogs' | 'references'>> {
    const deliveries: DeliveryRecord[] = [];
    const backlogs: BacklogRecord[] = [];
    const references = new Map<number, number>();
    let current: { clientId: string; queued: number; count: number; bytes: number; lastSeq: number } | undefined;
    const closeClient = () => {
      if (!current || current.count === 0) return;
      backlogs.push({ clientId: current.clientId, count: current.count, bytes: current.bytes, lastSeq: current.lastSeq });
    };
    for await (const [key, value] of this.#db.iterator(prefixRange('d'))) {
      const record = decodeDelivery(clientIdOfDelivery(key), value);
      references.set(record.messageId, (references.get(record.messageId) ?? 0) + 1);
      if (current?.clientId !== record.clientId) {
        closeClient();
        current = { clientId: record.clientId, queued: 0, count: 0, bytes: 0, lastSeq: 0 };
      }
      if (record.packetId > 0 || (current.queued < queuePage && current.count === 0)) {
        if (record.packetId === 0) current.queued++;
        deliveries.push(record);
      } else {
        current.count++;
        current.bytes += record.size;
        current.lastSeq = record.seq;
      }
    }
    closeClient();
    return { deliveries, backlogs, references };
  }

  /** The messages with these ids, in one read (a page of a queue is hundreds: one `get` each was most of a paging bridge's CPU). */
  async #readMessages(ids: Set<number>): Promise<Message[]> {
    const messages: Message[] = [];
    for (const value of await this.#db.getMany([...ids].map((id) => KEY.message(id)))) {
      if (value !== undefined) messages.push(decodeMessage(value));
    }
    return messages;
  }

  /** A session's stored deliveries after `afterSeq` (paging; never on the hot path). */
  async readDeliveries(clientId: string, afterSeq: number, limit: number): Promise<{ deliveries: DeliveryRecord[]; messages: Message[] }> {
    await this.flush(); // deliveries spilled in this turn must be on disk before they are read back
    const deliveries: DeliveryRecord[] = [];
    const range = { gt: KEY.delivery(clientId, afterSeq), lt: `d${SEP}${clientId}\u0001`, limit };
    for await (const value of this.#db.values(range)) deliveries.push(decodeDelivery(clientId, value));
    const messages = await this.#readMessages(new Set(deliveries.map((d) => d.messageId)));
    return { deliveries, messages };
  }

  saveSession(record: SessionRecord): void {
    this.#put(KEY.session(record.clientId), encodeSession(record));
  }

  deleteSession(clientId: string): void {
    this.#del(KEY.session(clientId));
    this.#del(KEY.frontier(clientId));
  }

  saveSendFrontier(clientId: string, seq: number): void {
    const value = Buffer.allocUnsafe(8);
    value.writeDoubleBE(seq, 0);
    this.#put(KEY.frontier(clientId), value);
  }

  saveMessage(message: Message, isNew = false): void {
    this.#put(KEY.message(message.id), encodeMessage(message), isNew);
  }

  deleteMessage(id: number): void {
    this.#del(KEY.message(id));
  }

  saveDelivery(record: DeliveryRecord, isNew = false): void {
    this.#put(KEY.delivery(record.clientId, record.seq), encodeDelivery(record), isNew);
  }

  deleteDelivery(clientId: string, seq: number): void {
    this.#del(KEY.delivery(clientId, seq));
  }

  saveInbound(record: InboundRecord): void {
    this.#put(KEY.inbound(record.clientId, record.packetId), Buffer.from(JSON.stringify(record)));
  }

  deleteInbound(record: InboundRecord): void {
    this.#del(KEY.inbound(record.clientId, record.packetId));
  }

  saveRetained(message: Message): void {
    this.#put(KEY.retained(message.topic), encodeMessage(message));
  }

  deleteRetained(topic: string): void {
    this.#del(KEY.retained(topic));
  }

  saveMessageIdFloor(next: number): void {
    if (next <= this.#idFloor) return;
    this.#idFloor = next;
    this.#put(KEY.nextMessageId, Buffer.from(String(next)));
  }

  /**
   * The bridge log's view of this database (keys under the `L` prefix, which the session records
   * never use): its writes join the same group commit as the messages, so a message and its log
   * record become durable together.
   */
  logBackend(): LogBackend {
    return {
      durable: this.durable,
      put: (key, value) => this.#put(key, value),
      del: (key) => this.#del(key),
      get: (key) => this.#db.get(key),
      entries: (range: KeyRange) => this.#db.iterator(range),
      flush: () => this.flush(),
    };
  }

  #put(key: string, value: Uint8Array, isNew = false): void {
    const pending = this.#ops.get(key);
    // Still fresh only if no earlier write said the key is on disk (a pending delete means it is)
    const fresh = pending === undefined ? isNew : pending.type === 'put' && pending.fresh;
    this.#ops.set(key, { type: 'put', value, fresh });
    this.#schedule();
  }

  #del(key: string): void {
    const pending = this.#ops.get(key);
    // A message acknowledged within the batch that created it never reaches the disk
    if (pending?.type === 'put' && pending.fresh) this.#ops.delete(key);
    else this.#ops.set(key, { type: 'del' });
    this.#schedule();
  }

  flush(): Promise<void> {
    if (!this.#waiter) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.#waiter = { promise, resolve, reject };
    }
    this.#schedule();
    return this.#waiter.promise;
  }

  /** Starts a commit at the end of this event-loop turn, unless one is running (it chains). */
  #schedule(): void {
    if (this.#scheduled || this.#committing) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#commit();
    });
  }

  async #commit(): Promise<void> {
    const ops = this.#ops;
    const waiter = this.#waiter;
    this.#ops = new Map();
    this.#waiter = undefined;
    this.#committing = true;
    const started = performance.now();
    try {
      if (ops.size > 0) {
        // The chained form: the array form of batch() costs ~10x more CPU per operation
        const batch = this.#db.batch();
        for (const [key, op] of ops) {
          if (op.type === 'put') batch.put(key, op.value);
          else batch.del(key);
        }
        await batch.write({ sync: this.#durability === 'fsync' });
      }
      this.#record(ops.size, performance.now() - started);
      waiter?.resolve();
    } catch (err) {
      this.stats.errors++;
      const failure = new BrokerError('ERR_STORE_WRITE', `${this.path}: ${(err as Error).message}`, { cause: err });
      // A waiter handles the failure (and reports it); otherwise nobody would hear of it
      if (waiter) waiter.reject(failure);
      else this.#onError(failure);
    } finally {
      this.#committing = false;
      if (this.#ops.size > 0 || this.#waiter) this.#schedule();
    }
  }

  #record(operations: number, ms: number): void {
    if (operations === 0) return;
    this.#onCommit?.(operations, ms);
    this.stats.commits++;
    this.stats.operations += operations;
    this.stats.latencyMs += ms;
    if (ms > this.stats.maxLatencyMs) this.stats.maxLatencyMs = ms;
    if (operations > this.stats.maxBatch) this.stats.maxBatch = operations;
    if (this.#durability === 'batch') this.#scheduleSync();
  }

  /** `batch` durability: a synced write every few ms makes everything before it durable. */
  #scheduleSync(): void {
    this.#unsynced = true;
    if (this.#syncTimer) return;
    this.#syncTimer = setTimeout(() => {
      this.#syncTimer = undefined;
      if (!this.#unsynced) return;
      this.#unsynced = false;
      this.#db.put(KEY.format, Buffer.from(String(FORMAT_VERSION)), { sync: true }).catch((err: Error) => {
        this.stats.errors++;
        this.#onError(new BrokerError('ERR_STORE_WRITE', `${this.path}: periodic sync failed: ${err.message}`, { cause: err }));
      });
    }, BATCH_SYNC_MS);
  }

  async close(): Promise<void> {
    await this.flush();
    clearTimeout(this.#syncTimer);
    if (this.#durability === 'batch' && this.#unsynced) await this.#db.put(KEY.format, Buffer.from(String(FORMAT_VERSION)), { sync: true });
    await this.#db.close();
  }
}

/**
 * Creates the data directory one level at a time, a bounded number of steps. LevelDB's own
 * recursive mkdir never settles under /proc (it spun at 85% CPU on `--data-dir /proc/nope`), so
 * the directory is checked first and a failure is one line naming the path and the cause.
 */
function prepareDirectory(dir: string): void {
  const missing: string[] = [];
  let current = resolve(dir);
  for (let depth = 0; depth < 256; depth++) {
    let stat;
    try {
      stat = statSync(current);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw cannotUse(dir, current, err);
      missing.push(current);
      const parent = dirname(current);
      if (parent === current) break;
      current = parent;
      continue;
    }
    if (!stat.isDirectory()) throw new BrokerError('ERR_STORE_OPEN', `${dir}: ${current} is not a directory`);
    break;
  }
  for (const path of missing.reverse()) {
    try {
      mkdirSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw cannotUse(dir, path, err);
    }
  }
}

function cannotUse(dir: string, path: string, err: unknown): BrokerError {
  const code = (err as NodeJS.ErrnoException).code ?? String(err);
  const at = path === resolve(dir) ? '' : ` (at ${path})`;
  return new BrokerError('ERR_STORE_OPEN', `${dir}: cannot create the data directory${at}: ${code}`, { cause: err });
}
