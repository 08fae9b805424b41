import type { Logger } from 'pino';
import type { KV } from 'nats';
import type { Message } from '../model.js';
import { NEVER_EXPIRES } from '../broker/session-registry.js';
import type { DeliveryRecord, InboundRecord, LogBackend, SessionRecord, Store, StoredState } from '../store/store.js';
import { encodeRecord, isStreamId, LOCAL_MESSAGE_IDS, sessionKey, type ClusterSessionRecord, type InboundEntry, type SessionOwner, type StoredDelivery } from './session-record.js';

/** What the cluster store asks of the cluster node. */
export interface ClusterStoreHost {
  readonly logger: Logger;
  /** True while the client has a connection on this node. */
  connected(clientId: string): boolean;
  /** The highest MSGS stream sequence this node has routed. */
  position(): number;
  /** A write found the record owned by another process: this node must stop serving the session. */
  fenced(clientId: string): void;
}

/** This node's copy of one owned session's record, kept current by the journal's writes. */
class Mirror {
  readonly clientId: string;
  readonly key: string;
  /** The KV revision of our last write; 0: the key is not ours to update (create it). */
  revision = 0;
  session: SessionRecord | undefined;
  readonly deliveries = new Map<number, DeliveryRecord>();
  /** Inbound QoS 2 packet ids awaiting PUBREL (see InboundEntry). */
  readonly inbound = new Map<number, { code: number; messageId: string | undefined; stored: boolean }>();
  frontier = 0;
  /** While a session is being restored: the stream sequence replayed so far (the floor may not pass it). */
  resumeCap: number | undefined;
  /**
   * Every stored message up to here was handled for the session (the record's floor when it was
   * taken, then the end of its backlog replay): the floor never goes below it, though this node
   * may not have routed that far on its live path.
   */
  handled = 0;
  /** The session ended: the record is deleted. */
  deleted = false;
  /** A write was refused: another node owns the session. */
  fenced = false;
  /** This owner's entry in the OWNED index exists. */
  indexed = false;

  constructor(clientId: string) {
    this.clientId = clientId;
    this.key = sessionKey(clientId);
  }
}

/** The batch of writes one KV commit carries. */
interface Batch {
  readonly promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * The Store of a cluster node: sessions live in the JetStream KV bucket SESSIONS, one record per
 * client, written by the one node that owns the session with a compare-and-set on the revision.
 * A write refused because the revision moved means another node took the session over: the
 * session is fenced (`host.fenced`) and this node stops serving it. Messages are not copied into
 * the records: a QoS 1/2 message's id is its MSGS stream sequence, and a record keeps only the
 * deliveries that may have been sent plus a floor from which the stream is replayed.
 *
 * Writes are queued synchronously and committed by `flush()` in groups (one KV write per dirty
 * session per commit), which the broker's CommitGate and Outboxes wait on exactly as with a local
 * durable store. The local store (`inner`) keeps what is node-local: MQTT bridges' `$bridge/`
 * sessions and the log bridge's key space. Retained messages live in the RET stream.
 */
export class ClusterStore implements Store {
  readonly durable = true;
  readonly #inner: Store;
  readonly #mirrors = new Map<string, Mirror>();
  readonly #dirty = new Set<Mirror>();
  /** Messages of deliveries that are not in the stream (retained messages sent on SUBSCRIBE). */
  readonly #local = new Map<number, Message>();
  #host: ClusterStoreHost | undefined;
  #kv: KV | undefined;
  #index: KV | undefined;
  #owner: SessionOwner | undefined;
  #next: Batch | undefined;
  #running = false;

  /** The local store's key space for the log bridge, when it has one. */
  readonly logBackend?: () => LogBackend;

  constructor(inner: Store) {
    this.#inner = inner;
    if (inner.logBackend !== undefined) this.logBackend = () => (inner.logBackend as () => LogBackend).call(inner);
  }

  get location(): string | undefined {
    return this.#inner.location;
  }

  /** Joins the cluster: from now on sessions are written to `kv` as `owner`. */
  bind(kv: KV, index: KV, owner: SessionOwner, host: ClusterStoreHost): void {
    this.#kv = kv;
    this.#index = index;
    this.#owner = owner;
    this.#host = host;
  }

  /** Only `$bridge/` sessions are restored at start; cluster sessions are read when their client connects. */
  async open(): Promise<StoredState> {
    const state = await this.#inner.open();
    const local = (clientId: string) => isNodeLocal(clientId);
    return {
      ...state,
      sessions: state.sessions.filter((s) => local(s.clientId)),
      deliveries: state.deliveries.filter((d) => local(d.clientId)),
      backlogs: [],
      inbound: state.inbound.filter((i) => local(i.clientId)),
      frontiers: new Map([...state.frontiers].filter(([clientId]) => local(clientId))),
      retained: [],
      nextMessageId: Math.max(state.nextMessageId, LOCAL_MESSAGE_IDS),
    };
  }

  /**
   * Takes a session's record as read (and just written with this node as owner, at `revision`),
   * or starts an empty one. Later writes for the client update it with a compare-and-set.
   */
  adopt(clientId: string, revision: number, record: ClusterSessionRecord | undefined, indexed = false): void {
    const mirror = new Mirror(clientId);
    mirror.revision = revision;
    mirror.indexed = indexed; // this owner's OWNED entry was written by the caller
    if (record !== undefined) {
      mirror.session = record.session;
      mirror.frontier = record.frontier;
      for (const d of record.deliveries) mirror.deliveries.set(d.seq, { ...d, clientId });
      for (const [id, code, messageId, stored] of record.inbound) mirror.inbound.set(id, { code, messageId, stored: stored === 1 });
      for (const m of record.messages) this.#local.set(m.id, m);
      mirror.resumeCap = record.floor;
      mirror.handled = record.floor;
    }
    this.#mirrors.set(clientId, mirror);
  }

  /**
   * Resolves true once everything written so far for the client is committed by this node as its
   * owner; false when the session is not (or no longer) ours. A will is published only after this.
   */
  async claim(clientId: string): Promise<boolean> {
    if (isNodeLocal(clientId)) return true;
    const mirror = this.#mirrors.get(clientId);
    if (mirror === undefined) return false;
    this.#touch(mirror);
    await this.flush();
    return !mirror.fenced;
  }

  /** Whether this node owns the client's session record. */
  owns(clientId: string): boolean {
    return this.#mirrors.has(clientId);
  }

  /**
   * The restore of a session replayed the stream up to `seq`; undefined: it is done, and every
   * stored message up to `through` (the stream's last sequence when the replay began) was handled.
   */
  resumed(clientId: string, seq: number | undefined, through = 0): void {
    const mirror = this.#mirrors.get(clientId);
    if (mirror === undefined) return;
    mirror.resumeCap = seq;
    if (seq === undefined && through > mirror.handled) mirror.handled = through;
    this.#touch(mirror);
  }

  /**
   * The session fell behind its live stored messages (src/cluster/catch-up.ts) and has every one
   * up to `seq`: until it has caught up (`resumed(clientId, undefined, through)`), its floor stays
   * at or below `seq`, so that a node resuming it reads the rest from the stream.
   */
  behind(clientId: string, seq: number): void {
    const mirror = this.#mirrors.get(clientId);
    if (mirror === undefined) return;
    mirror.resumeCap = seq;
    this.#touchDeliveries(mirror, false); // the floor matters only to a session with a record (a resumable one)
  }

  /** Stops writing a session this node no longer owns (it was handed over or fenced). */
  forget(clientId: string): void {
    const mirror = this.#mirrors.get(clientId);
    if (mirror === undefined) return;
    this.#mirrors.delete(clientId);
    this.#dirty.delete(mirror);
    if (mirror.indexed) void this.#index?.delete(this.#indexKey(mirror)).catch(() => undefined); // a hint only: survivors check the record
  }

  /** The record as it would be written now. */
  record(clientId: string): ClusterSessionRecord | undefined {
    const mirror = this.#mirrors.get(clientId);
    return mirror && this.#build(mirror);
  }

  #mirror(clientId: string): Mirror | undefined {
    if (isNodeLocal(clientId)) return undefined;
    let mirror = this.#mirrors.get(clientId);
    if (mirror === undefined) {
      mirror = new Mirror(clientId);
      this.#mirrors.set(clientId, mirror);
    }
    return mirror;
  }

  #touch(mirror: Mirror): void {
    this.#dirty.add(mirror);
  }

  /**
   * Deliveries and the send frontier are written only with a session record: without one (a clean
   * session, which ends with its connection) the record written holds only the deliveries of
   * shared subscriptions (see #build), which a survivor hands to other members if this node dies;
   * any other would cost a KV write, and hold the PUBLISH behind it, for nothing.
   */
  #touchDeliveries(mirror: Mirror, shared: boolean): void {
    if (mirror.session !== undefined || shared) this.#dirty.add(mirror);
  }

  saveSession(record: SessionRecord): void {
    const mirror = this.#mirror(record.clientId);
    if (mirror === undefined) return this.#inner.saveSession(record);
    mirror.session = record;
    mirror.deleted = false;
    this.#touch(mirror);
  }

  /**
   * The session ended. While its client is connected here (a clean session) the record stays, so
   * that the owner is known for a takeover from another node; otherwise it is deleted.
   */
  deleteSession(clientId: string): void {
    if (isNodeLocal(clientId)) return this.#inner.deleteSession(clientId);
    const mirror = this.#mirrors.get(clientId);
    if (mirror === undefined) return;
    mirror.session = undefined;
    mirror.frontier = 0;
    mirror.deleted = !(this.#host?.connected(clientId) ?? false);
    this.#touch(mirror);
  }

  saveSendFrontier(clientId: string, seq: number): void {
    const mirror = this.#mirror(clientId);
    if (mirror === undefined) return this.#inner.saveSendFrontier(clientId, seq);
    mirror.frontier = seq;
    this.#touchDeliveries(mirror, false);
  }

  saveMessage(message: Message, isNew?: boolean): void {
    if (isStreamId(message.id)) return;
    this.#local.set(message.id, message);
    this.#inner.saveMessage(message, isNew);
  }

  deleteMessage(id: number): void {
    if (isStreamId(id)) return;
    this.#local.delete(id);
    this.#inner.deleteMessage(id);
  }

  saveDelivery(record: DeliveryRecord, isNew?: boolean): void {
    const mirror = this.#mirror(record.clientId);
    if (mirror === undefined) return this.#inner.saveDelivery(record, isNew);
    mirror.deliveries.set(record.seq, record);
    this.#touchDeliveries(mirror, record.shared !== undefined);
  }

  deleteDelivery(clientId: string, seq: number): void {
    if (isNodeLocal(clientId)) return this.#inner.deleteDelivery(clientId, seq);
    const mirror = this.#mirrors.get(clientId);
    const delivery = mirror?.deliveries.get(seq);
    if (mirror === undefined || delivery === undefined) return;
    mirror.deliveries.delete(seq);
    this.#touchDeliveries(mirror, delivery.shared !== undefined);
  }

  saveInbound(record: InboundRecord): void {
    const mirror = this.#mirror(record.clientId);
    if (mirror === undefined) return this.#inner.saveInbound(record);
    const known = mirror.inbound.get(record.packetId);
    mirror.inbound.set(record.packetId, { code: record.reasonCode ?? 0, messageId: known?.messageId, stored: known?.stored ?? false });
    this.#touch(mirror);
  }

  /**
   * An inbound QoS 2 message of `clientId` (its packet id saved already) will be appended to the
   * MSGS stream as `messageId`: the record carries the id, and the append waits for the commit
   * (`flush()`) so that a resend reaching any node after a kill is appended under the same id.
   * False when the session is not in the bucket (node-local) or the packet id is not awaiting PUBREL.
   */
  chooseInbound(clientId: string, packetId: number, messageId: string): boolean {
    const entry = this.#mirrors.get(clientId)?.inbound.get(packetId);
    if (entry === undefined || isNodeLocal(clientId)) return false;
    entry.messageId = messageId;
    entry.stored = false;
    this.#touch(this.#mirrors.get(clientId) as Mirror);
    return true;
  }

  /** The message id recorded for an inbound QoS 2 packet id awaiting PUBREL, and whether it is known to be stored. */
  inboundMessage(clientId: string, packetId: number): { messageId: string; stored: boolean } | undefined {
    const entry = this.#mirrors.get(clientId)?.inbound.get(packetId);
    return entry?.messageId === undefined ? undefined : { messageId: entry.messageId, stored: entry.stored };
  }

  /**
   * JetStream acknowledged the append of `messageId`: a resend is answered without appending again.
   * Not written on its own: the next write of the record carries it (until then a resend after a
   * kill is appended again, which JetStream drops as a duplicate within its window).
   */
  inboundStored(clientId: string, packetId: number, messageId: string): void {
    const entry = this.#mirrors.get(clientId)?.inbound.get(packetId);
    if (entry?.messageId === messageId) entry.stored = true;
  }

  deleteInbound(record: InboundRecord): void {
    if (isNodeLocal(record.clientId)) return this.#inner.deleteInbound(record);
    const mirror = this.#mirrors.get(record.clientId);
    if (mirror === undefined || !mirror.inbound.delete(record.packetId)) return;
    this.#touch(mirror);
  }

  /** Retained messages live in the RET stream, which every node loads at start. */
  saveRetained(): void {}

  deleteRetained(): void {}

  saveMessageIdFloor(next: number): void {
    this.#inner.saveMessageIdFloor(next);
  }

  /** Resolves once every write queued so far is in JetStream (one promise per group commit). */
  flush(): Promise<void> {
    if (this.#next !== undefined) return this.#next.promise;
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.#next = { promise, resolve, reject };
    if (!this.#running) setImmediate(() => void this.#commit());
    return promise;
  }

  async #commit(): Promise<void> {
    const batch = this.#next;
    if (batch === undefined || this.#running) return;
    this.#next = undefined;
    this.#running = true;
    const dirty = [...this.#dirty];
    this.#dirty.clear();
    const results = await Promise.allSettled([this.#inner.flush(), ...dirty.map((m) => this.#write(m))]);
    this.#running = false;
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure === undefined) batch.resolve();
    else batch.reject(failure.reason);
    if (this.#next !== undefined) void this.#commit();
  }

  /** Writes one record with a compare-and-set; a refused write fences the session. */
  async #write(mirror: Mirror): Promise<void> {
    const kv = this.#kv;
    if (kv === undefined || this.#mirrors.get(mirror.clientId) !== mirror) return;
    try {
      if (mirror.deleted) {
        if (mirror.revision > 0) await kv.delete(mirror.key, { previousSeq: mirror.revision });
        if (this.#mirrors.get(mirror.clientId) === mirror && mirror.deleted) this.#mirrors.delete(mirror.clientId);
        mirror.revision = 0;
        if (mirror.indexed) await this.#index?.delete(this.#indexKey(mirror));
        mirror.indexed = false;
        return;
      }
      const record = this.#build(mirror);
      // Survivors find the sessions of a dead node by this index (its wills, delays, expiries and
      // shared-subscription messages, a clean session's included)
      if (!mirror.indexed && (record.deliveries.some((d) => d.shared !== undefined) || (record.session !== undefined && (record.session.will !== undefined || record.session.expiryInterval !== NEVER_EXPIRES)))) {
        await this.#index?.put(this.#indexKey(mirror), new Uint8Array());
        mirror.indexed = true;
      }
      const data = encodeRecord(record);
      mirror.revision = mirror.revision === 0 ? await kv.create(mirror.key, data) : await kv.update(mirror.key, data, mirror.revision);
    } catch (err) {
      if (/wrong last sequence|key exists/i.test((err as Error).message)) {
        mirror.fenced = true;
        this.forget(mirror.clientId);
        this.#host?.logger.warn({ clientId: mirror.clientId, err: (err as Error).message }, 'session write refused: another node owns the session now (fenced)');
        this.#host?.fenced(mirror.clientId);
        return;
      }
      if (this.#mirrors.get(mirror.clientId) === mirror) this.#dirty.add(mirror);
      throw err;
    }
  }

  /** `<incarnation>.<node id>.<session key>`: the owner of each entry, checked against the nodes bucket. */
  #indexKey(mirror: Mirror): string {
    const owner = this.#owner as SessionOwner;
    return `${owner.incarnation}.${owner.node}.${mirror.key}`;
  }

  #build(mirror: Mirror): ClusterSessionRecord {
    const owner = this.#owner as SessionOwner;
    const deliveries: StoredDelivery[] = [];
    const messages: Message[] = [];
    let lowestQueued = Infinity;
    const session = mirror.session;
    for (const d of mirror.deliveries.values()) {
      // A clean session ends with its connection: only its shared messages outlive it (handed to other members)
      if (session === undefined && d.shared === undefined) continue;
      const stream = isStreamId(d.messageId);
      if (stream && d.packetId === 0 && d.seq > mirror.frontier && session !== undefined) {
        // Queued and never sent: found again in the stream, from the floor on
        if (d.messageId < lowestQueued) lowestQueued = d.messageId;
        continue;
      }
      const { clientId: _clientId, ...stored } = d;
      deliveries.push(stored);
      if (!stream) {
        const message = this.#local.get(d.messageId);
        if (message !== undefined) messages.push(message);
      }
    }
    const position = this.#host?.position() ?? 0;
    const floor = lowestQueued !== Infinity ? lowestQueued - 1 : Math.max(mirror.handled, Math.min(position, mirror.resumeCap ?? Infinity));
    return {
      clientId: mirror.clientId,
      owner,
      session,
      frontier: session === undefined ? 0 : mirror.frontier,
      floor,
      deliveries,
      messages,
      inbound: [...mirror.inbound].map(([id, e]): InboundEntry => (e.messageId === undefined ? [id, e.code] : e.stored ? [id, e.code, e.messageId, 1] : [id, e.code, e.messageId])),
    };
  }

  observeCommits(observer: (operations: number, ms: number) => void): void {
    this.#inner.observeCommits?.(observer);
  }

  async close(): Promise<void> {
    if (this.#dirty.size > 0 || this.#next !== undefined) await this.flush().catch((err: unknown) => this.#host?.logger.error({ err }, 'cannot write the last session records to JetStream'));
    await this.#inner.close();
  }
}

/** MQTT bridges' sessions belong to their node: they stay in its local store. */
function isNodeLocal(clientId: string): boolean {
  return clientId.startsWith('$bridge/');
}
