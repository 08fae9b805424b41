import type { KV } from 'nats';
import { BrokerError } from '../errors.js';

/** What a node writes about itself in the nodes bucket. */
export interface NodeRecord {
  readonly nodeId: string;
  /** Unique to one process start: a restarted node never passes as its old self. */
  readonly incarnation: string;
  readonly startedAt: number;
  /** The filters of the shared groups this process holds (share-directory.ts); absent: none. */
  readonly shares?: readonly string[];
}

/** How often a node rewrites its record; a record unchanged for HEARTBEAT_MS × LAPSE belongs to a dead process. */
export const HEARTBEAT_MS = 1000;
const LAPSE = 3;

/**
 * A node's claim on its node id in a JetStream KV bucket. `claim()` creates the key, or takes
 * it over from a previous incarnation whose heartbeat has lapsed (a node killed with kill -9), and
 * refuses while another live process holds it. Every later write is a compare-and-set on the
 * revision: when another process has taken the id, the next heartbeat fails and `lost` fires.
 */
export class NodeRegistry {
  readonly #kv: KV;
  #record: NodeRecord;
  readonly #lost: (err: Error) => void;
  #revision = 0;
  #timer: NodeJS.Timeout | undefined;
  #beating = false;
  /** A write was asked for while one ran: it follows at once. */
  #again = false;

  constructor(kv: KV, record: NodeRecord, lost: (err: Error) => void) {
    this.#kv = kv;
    this.#record = record;
    this.#lost = lost;
  }

  /** Claims the node id, waiting at most a few heartbeats for a dead incarnation's record to lapse. */
  async claim(): Promise<void> {
    const data = JSON.stringify(this.#record);
    try {
      this.#revision = await this.#kv.create(this.#record.nodeId, data);
    } catch (err) {
      if (!/wrong last sequence|key exists/i.test((err as Error).message)) throw err;
      this.#revision = await this.#takeOver(data);
    }
    this.#timer = setInterval(() => void this.#heartbeat(), HEARTBEAT_MS);
    this.#timer.unref();
  }

  /** The id is taken: take it only if its holder stops writing for HEARTBEAT_MS × LAPSE. */
  async #takeOver(data: string): Promise<number> {
    const first = await this.#kv.get(this.#record.nodeId);
    if (first === null || first.operation !== 'PUT') return this.#kv.update(this.#record.nodeId, data, first?.revision ?? 0);
    if (Date.now() - first.created.getTime() > HEARTBEAT_MS * LAPSE) return this.#kv.update(this.#record.nodeId, data, first.revision);
    await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_MS * LAPSE));
    const later = await this.#kv.get(this.#record.nodeId);
    if (later !== null && later.revision !== first.revision && later.operation === 'PUT') {
      const holder = later.json<NodeRecord>();
      throw new BrokerError('ERR_CLUSTER_NODE_ID_IN_USE', `node id ${this.#record.nodeId} is held by a running process (incarnation ${holder.incarnation}, started ${new Date(holder.startedAt).toISOString()})`);
    }
    // A compare-and-set: if two restarts race for the lapsed id, only one wins
    return this.#kv.update(this.#record.nodeId, data, later?.revision ?? first.revision);
  }

  async #heartbeat(): Promise<void> {
    // A beat slower than the interval (a busy machine) must not overlap the next: both would use
    // the same revision, and the loser's refused compare-and-set would read as a lost node id
    if (this.#beating) {
      this.#again = true;
      return;
    }
    this.#beating = true;
    try {
      this.#revision = await this.#kv.update(this.#record.nodeId, JSON.stringify(this.#record), this.#revision);
    } catch (err) {
      if (!/wrong last sequence/i.test((err as Error).message)) return; // NATS unreachable: try again next beat
      this.stop();
      this.#lost(new BrokerError('ERR_CLUSTER_FENCED', `node id ${this.#record.nodeId} was taken by another process`));
    } finally {
      this.#beating = false;
      if (this.#again && this.#timer !== undefined) {
        this.#again = false;
        void this.#heartbeat();
      }
    }
  }

  /**
   * The filters of this process's shared groups changed: the record says so at once (one write
   * more than the heartbeats), and every node following the bucket learns it from the watch.
   */
  announce(shares: readonly string[]): void {
    const { shares: _old, ...record } = this.#record;
    this.#record = shares.length === 0 ? record : { ...record, shares };
    if (this.#timer !== undefined) void this.#heartbeat();
  }

  /** The nodes whose records are live now (this one included). */
  async nodes(): Promise<NodeRecord[]> {
    const live: NodeRecord[] = [];
    const keys = await this.#kv.keys();
    for await (const key of keys) {
      const entry = await this.#kv.get(key);
      if (entry?.operation === 'PUT' && Date.now() - entry.created.getTime() < HEARTBEAT_MS * LAPSE) live.push(entry.json<NodeRecord>());
    }
    return live;
  }

  /**
   * Whether process `incarnation` of node `nodeId` still holds its id with a heartbeat younger than
   * `ms`: a slower check than `nodes()`, since a busy process may miss a beat or two and must not be
   * taken for dead. It reads the one key (listing the bucket's keys while heartbeats rewrite them can miss some).
   */
  async beating(nodeId: string, incarnation: string, ms: number): Promise<boolean> {
    if (incarnation === this.#record.incarnation) return true;
    const entry = await this.#kv.get(nodeId);
    if (entry === null || entry.operation !== 'PUT') return false;
    return entry.json<NodeRecord>().incarnation === incarnation && Date.now() - entry.created.getTime() < ms;
  }

  /** Stops the heartbeat. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Stops and gives the id back, so a restart need not wait for it to lapse. */
  async release(): Promise<void> {
    this.stop();
    await this.#kv.delete(this.#record.nodeId, { previousSeq: this.#revision }).catch(() => undefined);
  }
}
