import type { JetStreamClient, JetStreamManager, KV, KvEntry, Msg, NatsConnection } from 'nats';
import { BrokerError, isBrokerError } from '../errors.js';
import type { BrokerContext } from '../handlers/context.js';
import type { Message } from '../model.js';
import type { MessageIds } from '../broker/message.js';
import { NEVER_EXPIRES } from '../broker/session-registry.js';
import { decodeMessage } from '../store/records.js';
import { ClusterReplay } from './replay.js';
import { endShared, handOverShared } from './shared-handover.js';
import { decodeRecord, encodeRecord, isStreamId, sessionKey, type ClusterSessionRecord, type SessionOwner } from './session-record.js';
import type { ClusterStore } from './session-store.js';

/** What the cluster sessions use of the cluster node, once it has joined. */
export interface ClusterEngine {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  readonly owner: SessionOwner;
  readonly prefix: string;
  /** The MSGS stream's name. */
  readonly messages: string;
  /** The SESSIONS bucket. */
  readonly sessions: KV;
  /** The OWNED index: `<incarnation>.<session key>` for each session a process owns. */
  readonly owned: KV;
  /** Whether that process still holds its node id with a heartbeat younger than `ms`. */
  alive(owner: SessionOwner, ms: number): Promise<boolean>;
  /** The highest MSGS sequence this node has routed. */
  position(): number;
  /** Hears every stored message this node routes from now on; returns the function that stops it. */
  onStored(listener: (message: Message) => void): () => void;
  /** Interest in a filter's subjects (reference-counted with the router's). */
  added(filter: string): void;
  removed(filter: string): void;
  /** Offers a message to shared group `group` of `filter` through NATS: true once a member on some node has it, committed. */
  offerShared(message: Message, filter: string, group: string): Promise<boolean>;
}

/** How often a node looks for sessions of dead nodes (their wills, will delays and expiries). */
const ORPHAN_SWEEP_MS = 2000;
/** A process whose heartbeat (every second) is older than this is dead: its sessions are adopted. */
const DEAD_AFTER_MS = 6000;
/** How long a takeover waits for the old owner to hand the session over before fencing it. */
const KICK_TIMEOUT_MS = 1000;
/** Compare-and-set attempts on a session record before the CONNECT is refused as busy. */
const ATTEMPTS = 3;

/**
 * Ownership of persistent sessions across nodes (docs/cluster.md). Before a CONNECT completes, the
 * node takes the client's record in the SESSIONS bucket: it asks the owning node to hand the
 * session over (that node closes its connection with 0x8E and writes its last state), then
 * writes itself as owner with a compare-and-set on the revision. If the old owner does not answer
 * (killed, or hung), the compare-and-set alone fences it: its next write is refused and it stops
 * serving the session. A resumed session gets its in-flight deliveries back from the record (by
 * stream sequence, with their packet ids) and its offline backlog from the MSGS stream, replayed
 * from the record's floor before live messages for it are let through.
 */
export class ClusterSessions {
  readonly #ctx: BrokerContext;
  readonly #store: ClusterStore;
  #engine: ClusterEngine | undefined;
  #sweep: NodeJS.Timeout | undefined;
  #sweeping = false;
  /** Clients of dead processes whose shared-subscription messages this node is handing to other members now (#adopt, #endOrphan). */
  readonly #handingOn = new Set<string>();

  constructor(ctx: BrokerContext, store: ClusterStore) {
    this.#ctx = ctx;
    this.#store = store;
  }

  /** The node joined the cluster: sessions are written to the bucket and handover requests are answered. */
  join(engine: ClusterEngine): void {
    this.#engine = engine;
    const ctx = this.#ctx;
    this.#store.bind(engine.sessions, engine.owned, engine.owner, {
      logger: ctx.logger,
      connected: (clientId) => ctx.connections.has(clientId),
      position: () => engine.position(),
      fenced: (clientId) => this.#release(clientId, 'session owned by another node now'),
    });
    engine.nc.subscribe(kickSubject(engine.prefix, engine.owner.incarnation), {
      callback: (err, msg) => {
        if (err === null) void this.#handOver(msg);
      },
    });
    this.#sweep = setInterval(() => void this.#sweepOrphans(engine), ORPHAN_SWEEP_MS);
    this.#sweep.unref();
  }

  /** Stops looking for orphaned sessions (the node is closing). */
  stop(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
  }

  /**
   * Sessions whose owner process is gone (killed, or stopped while they were offline) are adopted
   * by a survivor, so that their wills go out [MQTT-3.1.2-8], after their delay, and they expire on
   * time. Survivors race for each one with a compare-and-set on its record: one wins.
   */
  async #sweepOrphans(engine: ClusterEngine): Promise<void> {
    if (this.#sweeping) return;
    this.#sweeping = true;
    try {
      const keys: string[] = [];
      for await (const key of await engine.owned.keys()) keys.push(key);
      const alive = new Map<string, boolean>();
      for (const key of keys) {
        const [incarnation = '', node = ''] = key.split('.', 2);
        let known = alive.get(incarnation);
        if (known === undefined) alive.set(incarnation, (known = await engine.alive({ node, incarnation }, DEAD_AFTER_MS)));
        if (!known) await this.#adopt(engine, key);
      }
    } catch (err) {
      this.#ctx.logger.warn({ err }, 'cannot look for the sessions of dead nodes');
    } finally {
      this.#sweeping = false;
    }
  }

  /** Takes over one session of a dead process and restarts its will and expiry timers here. */
  async #adopt(engine: ClusterEngine, indexKey: string): Promise<void> {
    const [dead = '', node = ''] = indexKey.split('.', 2);
    const key = indexKey.slice(dead.length + node.length + 2);
    const entry = await engine.sessions.get(key);
    const record = recordOf(entry);
    const stored = record?.session;
    if (entry !== null && record !== undefined && stored === undefined && record.owner.incarnation === dead && !this.#ctx.sessions.has(record.clientId)) {
      return this.#endOrphan(engine, indexKey, key, record, entry.revision);
    }
    if (entry === null || record === undefined || stored === undefined || record.owner.incarnation !== dead || this.#ctx.sessions.has(record.clientId)) {
      if (record === undefined || record.owner.incarnation !== dead) await engine.owned.delete(indexKey);
      return;
    }
    const now = Date.now();
    // A client connected to the dead node lost its connection when the node died
    const taken: ClusterSessionRecord = { ...record, owner: engine.owner, session: { ...stored, disconnectedAt: stored.disconnectedAt ?? now } };
    let revision: number;
    try {
      revision = await engine.sessions.update(key, encodeRecord(taken), entry.revision);
    } catch (err) {
      if (/wrong last sequence/i.test((err as Error).message)) return; // another node was faster
      throw err;
    }
    const clientId = record.clientId;
    // This node's entry in the OWNED index before the dead one's goes: if this node dies during the
    // hand-over below (seconds), another survivor still finds the session under it
    const ownKey = `${engine.owner.incarnation}.${engine.owner.node}.${key}`;
    this.#handingOn.add(clientId);
    let handOver: Awaited<ReturnType<typeof handOverShared>>;
    try {
      await engine.owned.put(ownKey, new Uint8Array());
      await engine.owned.delete(indexKey);
      this.#ctx.logger.info({ clientId, from: record.owner }, 'adopted the session of a dead node');
      // The compare-and-set made this node the one that hands the member's shared messages on
      handOver = await handOverShared(taken, { offer: (m, filter, group) => engine.offerShared(m, filter, group), read: (seq) => this.#read(engine, seq) });
    } finally {
      this.#handingOn.delete(clientId);
    }
    if (handOver.moved + handOver.kept > 0) {
      this.#ctx.logger.info({ clientId, moved: handOver.moved, kept: handOver.kept }, "handed a dead node's member's shared-subscription messages to other members");
    }
    if (stored.will === undefined && stored.expiryInterval === NEVER_EXPIRES) {
      // Adopted for its shared messages only: it has no timer to run, so it waits for its client
      // offline in its record, as before, and does not take a share of its groups' messages here
      if (handOver.moved > 0) await this.#strip(engine, key, handOver.record, revision);
      await engine.owned.delete(ownKey); // nothing to run here: the record waits for its client
      return;
    }
    const adopted = withLocalIds(handOver.record, this.#ctx.messageIds);
    this.#store.adopt(clientId, revision, adopted, true);
    try {
      await this.#restore(engine, adopted);
    } catch (err) {
      this.#release(clientId, 'session could not be restored');
      throw err;
    }
    this.#restartTimers(clientId, stored, now);
    // The moved messages leave the record now, so that the member does not get them again when it comes back
    if (handOver.moved > 0 && !(await this.#store.claim(clientId))) this.#ctx.logger.warn({ clientId }, 'the member came back on another node while its shared messages were handed on: it may get them again');
  }

  /**
   * A clean session (Session Expiry Interval 0, no will) of a dead process, indexed for its shared
   * messages: it ended with its connection when the node died. Survivors race for it with a
   * compare-and-set; the winner hands its QoS 1 shared messages to other members, reports the
   * rest as dropped and deletes the record (unless its client came back meanwhile).
   */
  async #endOrphan(engine: ClusterEngine, indexKey: string, key: string, record: ClusterSessionRecord, revision: number): Promise<void> {
    const taken: ClusterSessionRecord = { ...record, owner: engine.owner };
    let takenRevision: number;
    try {
      takenRevision = await engine.sessions.update(key, encodeRecord(taken), revision);
    } catch (err) {
      if (/wrong last sequence/i.test((err as Error).message)) return; // another node was faster, or the client is back
      throw err;
    }
    // As in #adopt: this node's entry first, so a survivor dying during the hand-over leaves it to the next
    const ownKey = `${engine.owner.incarnation}.${engine.owner.node}.${key}`;
    this.#handingOn.add(record.clientId);
    let ended: Awaited<ReturnType<typeof endShared>>;
    try {
      await engine.owned.put(ownKey, new Uint8Array());
      await engine.owned.delete(indexKey);
      ended = await endShared(taken, this.#sharedPort(engine, record.clientId));
    } finally {
      this.#handingOn.delete(record.clientId);
    }
    this.#ctx.logger.info({ clientId: record.clientId, from: record.owner, ...ended }, "a dead node's clean session ended: its shared-subscription messages went to other members");
    try {
      await engine.sessions.delete(key, { previousSeq: takenRevision });
    } catch (err) {
      if (!/wrong last sequence/i.test((err as Error).message)) throw err; // else the client connected again meanwhile: the record is its own now
    }
    await engine.owned.delete(ownKey);
  }

  /**
   * A record this node just replaced without resuming it (a clean start, an expired session, a
   * clean session taken over from another node): the session ended, so its shared messages go to
   * other members, in the background; the CONNECT does not wait for them.
   */
  #endReplaced(engine: ClusterEngine, record: ClusterSessionRecord): void {
    if (!record.deliveries.some((d) => d.shared !== undefined)) return;
    endShared(record, this.#sharedPort(engine, record.clientId)).then(
      (ended) => this.#ctx.logger.info({ clientId: record.clientId, ...ended }, 'a replaced session ended: its shared-subscription messages went to other members'),
      (err: unknown) => this.#ctx.logger.warn({ err, clientId: record.clientId }, "cannot hand a replaced session's shared-subscription messages on"),
    );
  }

  #sharedPort(engine: ClusterEngine, clientId: string): Parameters<typeof endShared>[1] {
    return {
      offer: (m, filter, group) => engine.offerShared(m, filter, group),
      read: (seq) => this.#read(engine, seq),
      dropped: (message, reason) => this.#ctx.drops.add(clientId, message, reason),
    };
  }

  /** Writes an adopted record without the shared messages handed on, unless its client came back meanwhile. */
  async #strip(engine: ClusterEngine, key: string, record: ClusterSessionRecord, revision: number): Promise<void> {
    try {
      await engine.sessions.update(key, encodeRecord(record), revision);
    } catch (err) {
      if (!/wrong last sequence/i.test((err as Error).message)) throw err;
      this.#ctx.logger.warn({ clientId: record.clientId }, 'the member came back on another node while its shared messages were handed on: it may get them again');
    }
  }

  /** As at a restart (broker/persistence/restore.ts): the will's delay and the expiry go on from where they were. */
  #restartTimers(clientId: string, stored: NonNullable<ClusterSessionRecord['session']>, now: number): void {
    const { sessions, wills } = this.#ctx;
    const session = sessions.get(clientId);
    if (session === undefined) return;
    wills.restore(session, stored);
    const will = stored.will;
    if (will !== undefined) {
      // [MQTT-3.1.2-8] [MQTT-3.1.3-9] the connection ended abnormally (at the latest when its node died): the will waits for its delay, not beyond the session
      const dueAt = stored.willDueAt ?? (stored.disconnectedAt ?? now) + Math.min(will.delayInterval, stored.expiryInterval) * 1000;
      sessions.scheduleWill(session, Math.max(0, (dueAt - now) / 1000));
    }
    if (sessions.get(clientId) !== session) return;
    const elapsed = (now - (stored.disconnectedAt ?? now)) / 1000;
    sessions.scheduleExpiry(session, stored.expiryInterval - elapsed);
    // The record says when the will is due, for whoever adopts the session next
    if (sessions.get(clientId) === session) this.#ctx.journal.saveSession(session);
  }

  /**
   * CONNECT: makes this node the owner of the client's session and, unless `cleanStart`, puts
   * the stored session into the registry so that it resumes (session present = 1). `closed` tells
   * whether the connection closed meanwhile: a resumed session then goes on offline here, as after
   * an abnormal disconnect (its expiry and the previous connection's will restart).
   */
  async acquire(clientId: string, cleanStart: boolean, closed: () => boolean = () => false): Promise<void> {
    const engine = this.#engine;
    if (engine === undefined || clientId.startsWith('$bridge/')) return;
    const key = sessionKey(clientId);
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      let entry = await engine.sessions.get(key);
      let record = recordOf(entry);
      if (record !== undefined && record.owner.incarnation === engine.owner.incarnation && this.#store.owns(clientId)) return;
      // Whether the record's owner hands its shared messages on itself (it took it from a dead process)
      let handingOn = false;
      if (record !== undefined && record.owner.incarnation !== engine.owner.incarnation) {
        const kicked = record.owner.incarnation;
        handingOn = await this.#kick(engine, record.owner, clientId);
        entry = await engine.sessions.get(key);
        record = recordOf(entry);
        // Taken meanwhile by another process (a survivor adopting or ending it, a CONNECT there): that one is asked next
        if (record !== undefined && record.owner.incarnation !== kicked && record.owner.incarnation !== engine.owner.incarnation) continue;
      }
      const live = record?.session !== undefined && !expired(record.session.expiryInterval, record.session.disconnectedAt);
      const resume = live && !cleanStart;
      // The old will is decided here, once: this write strips it (published below, or replaced by the CONNECT's)
      const taken: ClusterSessionRecord = resume
        ? { ...(record as ClusterSessionRecord), owner: engine.owner, session: { ...(record?.session as NonNullable<ClusterSessionRecord['session']>), will: undefined, willDueAt: undefined } }
        : { clientId, owner: engine.owner, session: undefined, frontier: 0, floor: engine.position(), deliveries: [], messages: [], inbound: [] };
      let revision: number;
      try {
        revision = entry === null ? await engine.sessions.create(key, encodeRecord(taken)) : await engine.sessions.update(key, encodeRecord(taken), entry.revision);
      } catch (err) {
        if (/wrong last sequence|key exists/i.test((err as Error).message)) continue;
        throw new BrokerError('ERR_CLUSTER_UNAVAILABLE', (err as Error).message, { cause: err });
      }
      this.#release(clientId, 'session taken over');
      const adopted = resume ? withLocalIds(taken, this.#ctx.messageIds) : undefined;
      this.#store.adopt(clientId, revision, adopted);
      const willPublished = this.#publishOldWill(record, cleanStart);
      if (!resume && record !== undefined && record.owner.incarnation !== engine.owner.incarnation && !handingOn) this.#endReplaced(engine, record);
      if (!resume) {
        this.#store.resumed(clientId, undefined);
        return;
      }
      try {
        await this.#restore(engine, adopted as ClusterSessionRecord);
      } catch (err) {
        // Nothing half-restored stays: the next CONNECT reads the record (still ours) again
        this.#release(clientId, 'session could not be restored');
        throw isBrokerError(err) ? err : new BrokerError('ERR_CLUSTER_UNAVAILABLE', (err as Error).message, { cause: err });
      }
      // Another node took the session over while it was restored here: this CONNECT must not go on with a fresh one
      if (!this.#store.owns(clientId) || this.#ctx.sessions.get(clientId) === undefined) throw new BrokerError('ERR_CLUSTER_SESSION_BUSY', clientId);
      if (closed()) {
        // No connection will attach: the session was taken from its previous connection, which ended abnormally
        const stored = (record as ClusterSessionRecord).session as NonNullable<ClusterSessionRecord['session']>;
        this.#restartTimers(clientId, willPublished ? { ...stored, will: undefined, willDueAt: undefined } : stored, Date.now());
      }
      return;
    }
    throw new BrokerError('ERR_CLUSTER_SESSION_BUSY', clientId);
  }

  /**
   * Asks the owning process to hand the session over; a dead or silent owner is fenced by the
   * compare-and-set instead. True when the owner answered that it is handing the session's shared
   * messages to other members itself (it took the session from a dead process): the taker must not too.
   */
  async #kick(engine: ClusterEngine, owner: SessionOwner, clientId: string): Promise<boolean> {
    try {
      const reply = await engine.nc.request(kickSubject(engine.prefix, owner.incarnation), Buffer.from(JSON.stringify({ clientId })), { timeout: KICK_TIMEOUT_MS });
      return (JSON.parse(Buffer.from(reply.data).toString('utf8') || '{}') as { handingOn?: boolean }).handingOn === true;
    } catch (err) {
      // No responders: that process is gone. Timeout: it is hung or cut off, and fencing covers it
      this.#ctx.logger.debug({ clientId, owner, err: (err as Error).message }, 'the previous owner did not hand the session over');
      return false;
    }
  }

  /** Another node takes a session over: close the client's connection here, write the last state, stop serving it. */
  async #handOver(msg: Msg): Promise<void> {
    let clientId: string;
    try {
      clientId = (JSON.parse(Buffer.from(msg.data).toString('utf8')) as { clientId: string }).clientId;
    } catch {
      return;
    }
    const conn = this.#ctx.connections.get(clientId);
    if (conn !== undefined) {
      this.#ctx.connections.delete(clientId);
      conn.session.detach();
      conn.takenOver();
      this.#ctx.hooks.notify('onDisconnected', conn.info, 'session taken over by another node');
      conn.abort(new BrokerError('ERR_SESSION_TAKEN_OVER')); // [MQTT-3.1.4-3] MQTT 5: DISCONNECT 0x8E
    }
    const session = this.#ctx.sessions.get(clientId);
    if (session !== undefined && this.#store.owns(clientId)) {
      // A clean session ends with this connection, but its record (its shared messages) stays for
      // the taker, which hands them to other members (#endReplaced)
      if (session.expiryInterval !== 0 || session.will !== undefined) this.#ctx.journal.saveSession(session);
      await this.#store.claim(clientId).catch((err: unknown) => this.#ctx.logger.warn({ err, clientId }, 'cannot write the session before handing it over'));
    }
    this.#release(clientId, 'session taken over by another node');
    // A compare-and-set of #adopt or #endOrphan answered in the same read as this request continues
    // in a microtask: after this turn, #handingOn has it
    await new Promise((resolve) => setImmediate(resolve));
    msg.respond(Buffer.from(JSON.stringify({ handingOn: this.#handingOn.has(clientId) })));
  }

  /** This node stops serving a session another node owns now: its connection closes (0x8E), its state here is dropped, not ended. */
  #release(clientId: string, why: string): void {
    const ctx = this.#ctx;
    this.#store.forget(clientId);
    const conn = ctx.connections.get(clientId);
    if (conn !== undefined) {
      ctx.connections.delete(clientId);
      conn.session.detach();
      conn.takenOver();
      ctx.hooks.notify('onDisconnected', conn.info, why);
      conn.abort(new BrokerError('ERR_SESSION_TAKEN_OVER'));
    }
    const session = ctx.sessions.get(clientId);
    if (session === undefined) return;
    ctx.wills.forget(clientId);
    ctx.router.unsubscribeAll(session);
    ctx.sessions.evict(session);
    session.evict();
  }

  /**
   * The previous connection of a session this node just took over ended abnormally (a takeover,
   * or its node died): its will goes out unless its delay outlasts the takeover [MQTT-3.1.4-3],
   * and a delayed will of an offline session goes out when a clean start ends the session
   * [MQTT-3.1.3-9]. The compare-and-set that took the record removed the will from it, so no
   * other node publishes it too.
   */
  #publishOldWill(record: ClusterSessionRecord | undefined, cleanStart: boolean): boolean {
    const session = record?.session;
    const will = session?.will;
    if (session === undefined || will === undefined) return false;
    const connected = session.disconnectedAt === undefined;
    const due = connected ? will.delayInterval === 0 || cleanStart || session.expiryInterval === 0 : session.willDueAt !== undefined && (cleanStart || expired(session.expiryInterval, session.disconnectedAt));
    if (due) this.#ctx.wills.publish(session.clientId, will);
    return due;
  }

  /** Puts a stored session back into the registry: subscriptions, in-flight deliveries, inbound QoS 2 ids, then the backlog. */
  async #restore(engine: ClusterEngine, record: ClusterSessionRecord): Promise<void> {
    const ctx = this.#ctx;
    const stored = record.session as NonNullable<ClusterSessionRecord['session']>;
    const session = ctx.sessions.create(record.clientId);
    session.expireAfter(stored.expiryInterval);
    session.restoreDisconnectedAt(stored.disconnectedAt ?? Date.now());
    if (record.frontier > 0) session.restoreFrontier(record.frontier);
    const local = new Map(record.messages.map((m) => [m.id, m]));
    const ordered = [...record.deliveries].sort((a, b) => a.seq - b.seq);
    const messages = await Promise.all(ordered.map((d) => (isStreamId(d.messageId) ? this.#read(engine, d.messageId) : Promise.resolve(local.get(d.messageId)))));
    ordered.forEach((d, i) => {
      const message = messages[i];
      if (message === undefined) {
        ctx.logger.warn({ clientId: record.clientId, messageId: d.messageId }, 'an in-flight message is no longer in the MSGS stream (past its max age)');
        ctx.store.deleteDelivery(record.clientId, d.seq);
        return;
      }
      ctx.journal.restoreReference(message.id);
      const { qos, retain, subscriptionIds, packetId, state, seq, shared } = d;
      session.restoreDelivery({ message, qos, retain, subscriptionIds, packetId, state, seq, shared });
    });
    for (const [packetId, reasonCode] of record.inbound) session.restoreInbound(packetId, reasonCode);
    await new ClusterReplay(engine, ctx, this.#store).run(session, stored.subscriptions, record.floor);
  }

  /** A stored message by its stream sequence, or undefined when the stream no longer has it. */
  async #read(engine: ClusterEngine, seq: number): Promise<Message | undefined> {
    try {
      const stored = await engine.jsm.streams.getMessage(engine.messages, { seq });
      return { ...decodeMessage(stored.data), id: seq };
    } catch (err) {
      if (/no message found|not found/i.test((err as Error).message)) return undefined;
      throw new BrokerError('ERR_CLUSTER_UNAVAILABLE', (err as Error).message, { cause: err });
    }
  }
}

/**
 * The record's node-local messages (those not in the stream) with ids from this node's counter:
 * each node numbers its own, so an id from another node may name a different message here.
 */
function withLocalIds(record: ClusterSessionRecord, ids: MessageIds): ClusterSessionRecord {
  if (record.messages.length === 0) return record;
  const renamed = new Map<number, number>();
  const messages = record.messages.map((m) => {
    const id = ids.next();
    renamed.set(m.id, id);
    return { ...m, id };
  });
  const deliveries = record.deliveries.map((d) => (isStreamId(d.messageId) ? d : { ...d, messageId: renamed.get(d.messageId) ?? ids.next() }));
  return { ...record, messages, deliveries };
}

function kickSubject(prefix: string, incarnation: string): string {
  return `${prefix}.ctl.kick.${incarnation}`;
}

function recordOf(entry: KvEntry | null): ClusterSessionRecord | undefined {
  if (entry === null || entry.operation !== 'PUT') return undefined;
  return decodeRecord(entry.value);
}

/** A session offline since `disconnectedAt` whose expiry has passed. */
function expired(expiryInterval: number, disconnectedAt: number | undefined): boolean {
  if (disconnectedAt === undefined || expiryInterval === NEVER_EXPIRES) return false;
  return Date.now() - disconnectedAt >= expiryInterval * 1000;
}
