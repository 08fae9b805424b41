/**
 * Sink leases: each sink runs on one node of the cluster at a time. The lease is a key of the
 * `<PREFIX>_LEASES` KV bucket (the sink's name) holding the holder and the sink's committed
 * position; every write is a compare-and-set on the key's revision, so a node that lost the lease
 * can no longer move the position. nats-server 2.9 has no per-key TTL: a waiting node takes the
 * lease once its revision has not changed for the TTL on the waiting node's own clock (so clocks
 * need not agree), and the holder stops as soon as a renewal has not succeeded for the TTL: a
 * timer of its own, so a KV call that hangs cannot keep it shipping past the TTL. The position
 * only moves forward, so a late save of a runner that was stopped cannot move it back.
 */
import type { KV } from 'nats';

/** What the lease key holds. */
export interface LeaseRecord {
  readonly node: string;
  readonly incarnation: string;
  /** The sink's committed position: the next stream sequence it ships (undefined: none yet). */
  readonly cursor: number | undefined;
}

/** A lease's state on this node (status, metrics). */
export interface LeaseStatus {
  readonly held: boolean;
  /** The node holding it as last seen (undefined: free). */
  readonly holder: string | undefined;
  /** Times this node took the lease, and lost it. */
  readonly acquired: number;
  readonly lost: number;
}

/** What the lease tells the sink. */
export interface LeaseEvents {
  /** This node holds the lease: run the sink from `cursor`. */
  acquired(cursor: number | undefined): void;
  /** This node no longer holds it: stop the sink at once. */
  lost(reason: string): void;
  /** A failure reaching the bucket (logged; the lease loop goes on). */
  failed(err: unknown): void;
}

/** One sink's lease, as seen from this node. */
export class SinkLease {
  readonly #kv: KV;
  readonly #key: string;
  readonly #owner: { node: string; incarnation: string };
  readonly #ttlMs: number;
  readonly #events: LeaseEvents;
  #revision = 0;
  #held = false;
  #holder: string | undefined;
  /** When this node's last renewal that succeeded was started. */
  #renewedAt = 0;
  /** The position to write with the next renewal. */
  #cursor: number | undefined;
  /** The other holder's revision and when this node first saw it. */
  #seen: { revision: number; at: number } | undefined;
  #acquired = 0;
  #lost = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Fires when the TTL has passed since the last renewal that succeeded: the holder stops. */
  #expiry: NodeJS.Timeout | undefined;
  #busy: Promise<void> | undefined;
  #stopped = false;

  constructor(kv: KV, sink: string, owner: { node: string; incarnation: string }, ttlMs: number, events: LeaseEvents) {
    this.#kv = kv;
    this.#key = sink;
    this.#owner = owner;
    this.#ttlMs = ttlMs;
    this.#events = events;
  }

  /** Tries for the lease now, then every third of the TTL (renewing while held). */
  start(): void {
    this.#tick();
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#busy = this.#step()
      .catch((err: unknown) => this.#events.failed(err))
      .finally(() => {
        this.#busy = undefined;
        if (!this.#stopped) this.#timer = setTimeout(() => this.#tick(), Math.max(100, Math.floor(this.#ttlMs / 3)));
      });
  }

  async #step(): Promise<void> {
    if (this.#held) {
      if (Date.now() - this.#renewedAt > this.#ttlMs) return this.#lose('no renewal succeeded within the lease TTL');
      return this.#write(this.#cursor);
    }
    const entry = await this.#kv.get(this.#key);
    if (entry === null) return this.#take(0, undefined, () => this.#kv.create(this.#key, this.#encode(undefined)));
    const record = entry.operation === 'PUT' ? entry.json<LeaseRecord>() : undefined;
    this.#holder = record?.node || undefined;
    const now = Date.now();
    // Free: given up by a holder that stopped (its position kept), or deleted; or this process's
    // own (a renewal that succeeded after this node had stopped waiting for it)
    if (record === undefined || record.incarnation === '' || (record.node === this.#owner.node && record.incarnation === this.#owner.incarnation)) {
      return this.#take(entry.revision, record?.cursor);
    }
    if (this.#seen?.revision !== entry.revision) {
      this.#seen = { revision: entry.revision, at: now };
      return;
    }
    if (now - this.#seen.at >= this.#ttlMs) await this.#take(entry.revision, record.cursor);
  }

  /** Takes the lease with a compare-and-set on `revision` (or `create`); losing the race is not an error. */
  async #take(revision: number, cursor: number | undefined, write = () => this.#kv.update(this.#key, this.#encode(cursor), revision)): Promise<void> {
    const started = Date.now();
    try {
      this.#revision = await write();
    } catch (err) {
      if (/wrong last sequence|key exists/i.test((err as Error).message)) return;
      throw err;
    }
    this.#held = true;
    this.#holder = this.#owner.node;
    this.#renewed(started);
    this.#cursor = cursor;
    this.#seen = undefined;
    this.#acquired++;
    this.#events.acquired(cursor);
  }

  /** Renews the lease, writing `cursor` with it; a failed compare-and-set means another node took it. */
  async #write(cursor: number | undefined): Promise<void> {
    const started = Date.now();
    try {
      this.#revision = await this.#kv.update(this.#key, this.#encode(cursor), this.#revision);
      if (this.#held) this.#renewed(started);
    } catch (err) {
      if (/wrong last sequence/i.test((err as Error).message)) return this.#lose('another node took the lease');
      throw err;
    }
  }

  /** A renewal (or the take) started at `at` succeeded: the lease holds until `at` + TTL. */
  #renewed(at: number): void {
    this.#renewedAt = at;
    clearTimeout(this.#expiry);
    this.#expiry = setTimeout(() => this.#lose('no renewal succeeded within the lease TTL'), Math.max(0, at + this.#ttlMs - Date.now()));
    this.#expiry.unref();
  }

  #encode(cursor: number | undefined): string {
    const record: LeaseRecord = { ...this.#owner, cursor };
    return JSON.stringify(record);
  }

  #lose(reason: string): void {
    if (!this.#held) return;
    this.#held = false;
    clearTimeout(this.#expiry);
    this.#holder = undefined;
    this.#lost++;
    this.#events.lost(reason);
  }

  /**
   * The sink shipped through `cursor`: written at once unless a write is under way (then with the
   * next). A position behind the one held (a stopped runner's late save) is ignored.
   */
  saveCursor(cursor: number): void {
    if (this.#cursor !== undefined && cursor <= this.#cursor) return;
    this.#cursor = cursor;
    if (this.#busy !== undefined || !this.#held || this.#stopped) return;
    clearTimeout(this.#timer);
    this.#tick();
  }

  status(): LeaseStatus {
    return { held: this.#held, holder: this.#holder, acquired: this.#acquired, lost: this.#lost };
  }

  /**
   * Stops the loop. A holder writes its last position and gives the lease up (deletes the
   * holder, keeps the position), so another node takes over at once rather than after the TTL.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#busy;
    clearTimeout(this.#expiry);
    if (!this.#held) return;
    this.#held = false;
    const free: LeaseRecord = { node: '', incarnation: '', cursor: this.#cursor };
    await this.#kv.update(this.#key, JSON.stringify(free), this.#revision).catch(() => undefined);
  }
}
