import type { ClientInfo, DropReason, Message, ProtocolVersion, QoS, WillRecord } from '../model.js';
import type { SessionRecord } from '../store/store.js';
import { derivedPacketId, Inflight, type Delivery } from './inflight.js';
import { isExpired } from './message.js';
import { MessageQueue, type Backlog, type DiskLimits, type QueueLimits } from './queue.js';
import type { Subscription } from './subscription.js';
import type { CommitObserver } from './persistence/commit-gate.js';
import { Outbox, type PendingSend } from './outbox.js';

/** Longest wait for the first acknowledgement of a connection before its client counts as stalled (ms). */
const FIRST_ACK_MS = 1000;
/** Cluster catch-up: the episodes whose read-back range a session remembers (a late live copy older than these is not expected). */
const READ_BACK_RANGES = 16;

/** The connection side of a session: what a session needs to send to its client. */
export interface Outlet {
  readonly protocolVersion: ProtocolVersion;
  /** The client, as read checks see it (its username may change on re-authentication). */
  readonly info: ClientInfo | undefined;
  /** The client's Receive Maximum (65535 when it sent none). */
  readonly receiveMaximum: number;
  /** Sends a PUBLISH; returns why it could not be sent (e.g. too large for the client), or undefined. */
  sendPublish(delivery: Delivery, dup: boolean): DropReason | undefined;
  sendPubrel(packetId: number): void;
  /** True when the socket's write buffer is above the slow-consumer limit. */
  readonly congested: boolean;
}

/** What a session reports to the broker. */
export interface SessionEvents {
  dropped(session: Session, message: Message, reason: DropReason): void;
  delivered(session: Session, message: Message): void;
  /** Reading a page of the queue back from the store failed. */
  pageFailed(session: Session, err: unknown): void;
  /** The session ended holding a delivery of a shared subscription: true when another member took it. */
  reroute(session: Session, delivery: Delivery): boolean;
}

/** Reads a session's queued deliveries back from the store (paging stores only). */
export interface DeliveryPager {
  readonly pageSize: number;
  load(clientId: string, afterSeq: number, limit: number): Promise<Delivery[]>;
}

/** Mirrors a session's QoS 1/2 deliveries and inbound QoS 2 ids into the store (see broker/persistence/journal.ts). */
export interface SessionJournal {
  /**
   * True when every QoS 1/2 delivery of `session` is written to the store (a paging queue may keep
   * it on disk only); a journal without it writes every session's deliveries.
   */
  mirrors?(session: Session): boolean;
  added(session: Session, delivery: Delivery): void;
  updated(session: Session, delivery: Delivery): void;
  removed(session: Session, delivery: Delivery): void;
  /** Writes a delivery (and its message) again after a failed commit. */
  rewritten(session: Session, delivery: Delivery): void;
  /** Writes the session's send frontier: the highest seq whose PUBLISH may have been sent. */
  frontier(session: Session, seq: number): void;
  inboundAdded(session: Session, packetId: number, reasonCode: number): void;
  inboundReleased(session: Session, packetId: number): void;
}

/** The part of the CommitGate a session uses. */
export interface SessionGate {
  note(observer: CommitObserver): number;
}

/**
 * Flow control (broker/flow.ts): hears when a consuming subscriber's queue reaches its bounds, so
 * the publishers feeding it are held back, and when that no longer applies.
 */
export interface SessionFlow {
  /** Milliseconds without an acknowledgement after which a subscriber is stalled. */
  readonly stallTimeout: number;
  /** A delivery just went into the full queue of `session`, a consuming subscriber. */
  pressured(session: Session): void;
  /** `session`'s queue is no longer a reason to hold anyone back (drained, stalled, offline or ended). */
  relieved(session: Session): void;
}

/**
 * Cluster mode (src/cluster/catch-up.ts): a stored message that meets the full queue of a
 * consuming subscriber is left out, and read back from the MSGS stream once the queue has room,
 * instead of being dropped or holding anyone back.
 */
export interface SessionCatchUp {
  /** `message` (stored, not shared) meets the full queue of a consuming `session`: true when it is left out, to be read back later. */
  defers(session: Session, message: Message): boolean;
  /** `session` is behind: true when `message` is left to the catch-up (it reads it back in stream order). */
  skips(session: Session, message: Message): boolean;
  /** A behind session's queue has room again, or the session consumes no longer: the catch-up reads on. */
  room(session: Session): void;
}

/** What every session of a broker shares. */
export interface SessionDeps {
  readonly limits: QueueLimits;
  /** Bounds of one session's queue other than `limits` (an MQTT bridge's backlog), or undefined. */
  readonly limitsOf?: (clientId: string) => QueueLimits | undefined;
  readonly maxInflight: number;
  readonly events: SessionEvents;
  readonly journal: SessionJournal;
  /** With a paging store, queues keep about one page in memory and the rest on disk. */
  readonly pager: DeliveryPager | undefined;
  /** With a durable store: QoS 1/2 PUBLISH and PUBREL wait for the commit of their records. */
  readonly gate: SessionGate | undefined;
  /** Per-delivery read check (authorizeRead plugins); undefined when no plugin has one. */
  readonly readable?: ((client: ClientInfo, message: Message) => boolean) | undefined;
  /** Flow control; undefined when it is off (stallTimeout 0). */
  readonly flow?: SessionFlow | undefined;
  /** With a paging store: the disk bound of a persistent session's queue and the broker's budget (maxQueuedDiskBytes, queueDiskBudget). */
  readonly disk?: DiskLimits | undefined;
  /** Cluster mode with flow control: stored messages a consuming session's full queue leaves out are read back later. */
  readonly catchUp?: SessionCatchUp | undefined;
}

/**
 * One client's session. It outlives connections: `attach()` and `detach()` move it between
 * sockets. Only the session changes its own in-flight window and queue, and it reports each
 * change of a QoS 1/2 delivery to the journal, so the store mirrors memory.
 */
export class Session {
  readonly clientId: string;
  /** Created with the first subscription: many sessions (publishers) never subscribe. */
  #subscriptions: Map<string, Subscription> | undefined;
  #expiryInterval = 0;
  /** See `mirrored`. */
  #mirrored = false;
  #will: WillRecord | undefined;
  #willDueAt: number | undefined;
  #disconnectedAt: number | undefined;
  /** Inbound QoS 2 packet ids awaiting PUBREL, with the reason code of their PUBREC; created with the first one. */
  #inboundQos2: Map<number, number> | undefined;
  readonly #inflight = new Inflight();
  /** In-flight deliveries still to be resent on this connection, held back by a smaller Receive Maximum [MQTT-3.3.4-9]. */
  #resend: Delivery[] | undefined;
  /** Messages waiting for the window or for the client; created with the first one (most sessions never queue). */
  #queue: MessageQueue | undefined;
  readonly #deps: SessionDeps;
  #outlet: Outlet | null = null;
  #nextSeq = 1;
  /** Write-ahead of QoS 1/2 sends with a durable store; created with the first one. */
  #outbox: Outbox | undefined;
  /** True for a session that flow control leaves alone (see #queued). */
  #flowless = false;
  /**
   * When the client last showed progress (Date.now()): its last acknowledgement, or when it had
   * nothing to acknowledge (it connected, or its window was empty) and a delivery went out.
   */
  #progressAt = 0;
  /** True once the client acknowledged a delivery on this connection. */
  #acked = false;
  /** Set while flow control holds publishers back on behalf of this session. */
  #pressured = false;
  /** Cluster mode: set while stored messages for this session are left to the catch-up (SessionCatchUp). */
  #behind = false;
  /** Cluster mode: the ranges of stream sequences the catch-up gave this session, the last READ_BACK_RANGES episodes' (message ids of stored messages). */
  #readBack: { readonly from: number; readonly through: number }[] | undefined;

  constructor(clientId: string, deps: SessionDeps) {
    this.clientId = clientId;
    this.#deps = deps;
  }

  #queued(): MessageQueue {
    if (this.#queue !== undefined) return this.#queue;
    const { pager, limits, events } = this.#deps;
    const clientId = this.clientId;
    const own = this.#deps.limitsOf?.(clientId);
    // A session with bounds of its own (an MQTT bridge's backlog) has its own overflow policy
    if (own !== undefined) this.#flowless = true;
    this.#queue = new MessageQueue(
      own ?? limits,
      pager && {
        pageSize: pager.pageSize,
        stores: () => this.#deps.journal.mirrors?.(this) ?? true,
        load: (afterSeq, limit) => pager.load(clientId, afterSeq, limit),
        loaded: () => this.#pump(),
        failed: (err) => events.pageFailed(this, err),
        budget: this.#deps.disk?.budget,
      },
    );
    return this.#queue;
  }

  /** Session Expiry Interval in seconds (0: ends with its connection; 0xFFFFFFFF: never expires). */
  get expiryInterval(): number {
    return this.#expiryInterval;
  }

  /** Sets the Session Expiry Interval (from CONNECT, DISCONNECT or the store). */
  expireAfter(seconds: number): void {
    this.#expiryInterval = seconds;
    if (seconds > 0 && !this.#mirrored) this.#mirror();
  }

  /**
   * True once a restart could resume this session: it has had a Session Expiry Interval above 0, or
   * it holds deliveries read back from the store. Until then the journal writes only its shared
   * subscriptions' deliveries (see broker/persistence/journal.ts); it stays true afterwards, so
   * what was written is deleted as it completes.
   */
  get mirrored(): boolean {
    return this.#mirrored;
  }

  /** The session becomes one a restart resumes (a takeover that keeps it with an expiry): what it holds unwritten is written now. */
  #mirror(): void {
    const unwritten = (this.#deps.journal.mirrors?.(this) ?? true) ? [] : this.pendingDeliveries().filter((d) => d.shared === undefined);
    this.#mirrored = true;
    for (const delivery of unwritten.sort((a, b) => a.seq - b.seq)) this.#record(delivery);
  }

  /** The will of the session's last connection, until it is published or discarded. */
  get will(): WillRecord | undefined {
    return this.#will;
  }

  /** Only Wills calls this: it is the one writer of a session's will. */
  replaceWill(will: WillRecord | undefined): void {
    this.#will = will;
  }

  /** When a delayed will is due (ms since epoch), while its timer runs. */
  get willDueAt(): number | undefined {
    return this.#willDueAt;
  }

  /** The session registry's will timer started (due at `at`) or stopped (undefined). */
  willScheduled(at: number | undefined): void {
    this.#willDueAt = at;
  }

  /** When the client went offline (ms since epoch), or undefined while connected. */
  get disconnectedAt(): number | undefined {
    return this.#disconnectedAt;
  }

  /** At start: when the stored session went offline. */
  restoreDisconnectedAt(at: number): void {
    this.#disconnectedAt = at;
  }

  /** Number of subscriptions. */
  get subscriptionCount(): number {
    return this.#subscriptions?.size ?? 0;
  }

  /** The subscription with this filter, if any. */
  getSubscription(filter: string): Subscription | undefined {
    return this.#subscriptions?.get(filter);
  }

  /** Every subscription, in the order they were made. */
  subscriptionList(): Subscription[] {
    return [...(this.#subscriptions?.values() ?? [])];
  }

  /** Adds or replaces a subscription (the router's to call: it also updates the topic tree). */
  addSubscription(sub: Subscription): void {
    (this.#subscriptions ??= new Map()).set(sub.filter, sub);
  }

  /** Removes a subscription (the router's to call); returns whether it existed. */
  deleteSubscription(filter: string): boolean {
    return this.#subscriptions?.delete(filter) ?? false;
  }

  get connected(): boolean {
    return this.#outlet !== null;
  }

  /**
   * True while the client is connected and acknowledged something within the last stallTimeout
   * (counted from when it last had nothing to acknowledge; the first acknowledgement on a connection
   * gets at most FIRST_ACK_MS): only such a subscriber holds its publishers back when its queue is
   * full. One that acknowledged nothing for that long, or is offline, is stalled, and its queue
   * follows queueOverflow.
   */
  consuming(now: number): boolean {
    const flow = this.#deps.flow;
    if (flow === undefined || this.#outlet === null) return false;
    // A client that has acknowledged nothing since it connected gets at most FIRST_ACK_MS for its first one
    return now - this.#progressAt < (this.#acked ? flow.stallTimeout : Math.min(flow.stallTimeout, FIRST_ACK_MS));
  }

  /** True while flow control holds publishers back on behalf of this session. */
  get holding(): boolean {
    return this.#pressured;
  }

  /** Flow control's periodic check: a subscriber that stalled holds nobody back any longer. */
  checkStall(now: number): void {
    if (this.#pressured && !this.consuming(now)) this.#relieve();
  }

  #progress(): void {
    this.#progressAt = Date.now();
    this.#acked = true;
  }

  #relieve(): void {
    if (!this.#pressured) return;
    this.#pressured = false;
    this.#deps.flow?.relieved(this);
  }

  get inflightCount(): number {
    return this.#inflight.size;
  }

  get queuedCount(): number {
    return this.#queue?.size ?? 0;
  }

  /** How many more deliveries the queue takes within its bound on messages. */
  get queueRoom(): number {
    return this.#queue?.room ?? (this.#deps.limitsOf?.(this.clientId) ?? this.#deps.limits).maxMessages;
  }

  /** Payload bytes queued, in memory and on disk. */
  get queuedBytes(): number {
    return this.#queue?.bytes ?? 0;
  }

  /** Applies the current bounds of this session's queue (after a configuration reload). */
  relimit(): void {
    this.#queue?.setLimits(this.#deps.limitsOf?.(this.clientId) ?? this.#deps.limits);
  }

  get queuedInMemoryCount(): number {
    return this.#queue?.memorySize ?? 0;
  }

  /**
   * Connects the session to a client and resends what was unacknowledged, in order and with the
   * original packet ids [MQTT-4.4.0-1]: PUBLISH with DUP=1 [MQTT-3.3.1-1], PUBREL for what the
   * client already PUBREC'd. What the client's Receive Maximum does not allow yet is resent as
   * acknowledgements make room.
   */
  attach(outlet: Outlet): void {
    this.#outlet = outlet;
    this.#disconnectedAt = undefined;
    this.#progressAt = Date.now();
    this.#acked = false;
    const window = this.#window(outlet);
    let sent = 0;
    let resend: Delivery[] | undefined;
    for (const delivery of this.#inflight.values()) {
      if (sent >= window) {
        (resend ??= []).push(delivery);
      } else if (delivery.state === 'pubrel') {
        this.#sendPubrel(outlet, delivery);
        sent++;
      } else {
        this.#send(outlet, delivery, true);
        sent++;
      }
    }
    this.#resend = resend;
    this.#pump();
  }

  /** Disconnects the session from its client; in-flight and queued messages stay. */
  detach(): void {
    this.#outlet = null;
    this.#resend = undefined;
    this.#outbox?.clear();
    this.#disconnectedAt = Date.now();
    this.#relieve(); // an offline subscriber holds nobody back
    // Behind, its stored backlog stays in the stream until it is back (here: attach() pumps; on another node: from the record's floor)
  }

  /**
   * Delivers `message` at `qos` (already the minimum of publish and subscription QoS); `shared` names
   * the shared subscription it came through.
   */
  deliver(message: Message, qos: QoS, retain: boolean, subscriptionIds: readonly number[] | undefined, shared?: string): void {
    // Behind: the catch-up reads the stored messages back in stream order, so none overtakes them
    if (shared === undefined && (this.#behind || this.#readBack !== undefined) && this.#catchUpHas(message)) return;
    this.#deliver(message, qos, retain, subscriptionIds, shared);
  }

  /** Whether the cluster's catch-up delivers `message` (the session is behind) or delivered it already. */
  #catchUpHas(message: Message): boolean {
    // Read back in an earlier episode: a late live copy (a gap replay may bring one during the next episode) is a repeat
    if (this.#readBack?.some((read) => message.id >= read.from && message.id <= read.through) === true) return true;
    return this.#behind && this.#deps.catchUp?.skips(this, message) === true;
  }

  /**
   * Cluster catch-up: delivers a stored message read back from the stream; false, leaving it for
   * later, while the session consumes and its queue is full again.
   */
  deliverBehind(message: Message, qos: QoS, retain: boolean, subscriptionIds: readonly number[] | undefined): boolean {
    if (this.#outlet !== null && this.#queue !== undefined && this.#queue.full(this.#diskLimits()) && this.consuming(Date.now())) return false;
    this.#deliver(message, qos, retain, subscriptionIds, undefined);
    return true;
  }

  /**
   * Cluster catch-up: the session has every stored message again and takes the live ones from now
   * on; those of sequences `from`..`through` it was given by the catch-up, so the live path bringing
   * one late (it may lag behind the read of the stream) is not delivered twice.
   */
  caughtUp(from: number, through: number): void {
    this.#behind = false;
    const ranges = (this.#readBack ??= []);
    ranges.push({ from, through });
    if (ranges.length > READ_BACK_RANGES) ranges.shift();
  }

  #deliver(message: Message, qos: QoS, retain: boolean, subscriptionIds: readonly number[] | undefined, shared: string | undefined): void {
    const seq = qos > 0 ? this.#nextSeq++ : 0;
    const delivery: Delivery = { message, qos, retain, subscriptionIds, packetId: 0, state: 'publish', seq, shared };
    const outlet = this.#outlet;
    if (outlet === null) {
      // QoS 0 messages are not queued for offline sessions (MQTT 3.1.1 section 3.1.2.4 allows either), but counted
      if (qos > 0) this.#enqueue(delivery);
      else this.#deps.events.dropped(this, message, 'offline');
      return;
    }
    if (this.#queue !== undefined && this.#queue.size > 0) {
      this.#enqueue(delivery); // keep per-topic order behind what is already waiting [MQTT-4.6.0-6]
      return;
    }
    if (qos === 0) {
      this.#sendQos0(outlet, delivery);
    } else if (this.#inflight.size < this.#window(outlet)) {
      // Nothing was waiting for an acknowledgement: the stall clock starts now
      if (this.#inflight.size === 0 && this.#deps.flow !== undefined) this.#progressAt = Date.now();
      this.#inflight.add(delivery);
      this.#record(delivery);
      this.#send(outlet, delivery);
    } else {
      this.#enqueue(delivery);
    }
  }

  #window(outlet: Outlet): number {
    return Math.min(this.#deps.maxInflight, outlet.receiveMaximum);
  }

  #sendQos0(outlet: Outlet, delivery: Delivery): void {
    if (outlet.congested) {
      this.#deps.events.dropped(this, delivery.message, 'slow-consumer');
      return;
    }
    const failure = this.#write(outlet, delivery, false);
    if (failure === undefined) this.#deps.events.delivered(this, delivery.message);
    else this.#deps.events.dropped(this, delivery.message, failure); // [MQTT-3.1.2-25] discarded, but counted
  }

  /** The session's Outbox, when the store is durable (created on first use). */
  #outboxed(): Outbox | undefined {
    if (this.#outbox !== undefined) return this.#outbox;
    const { gate, journal, maxInflight } = this.#deps;
    if (gate === undefined) return undefined;
    this.#outbox = new Outbox({
      note: (observer) => gate.note(observer),
      writeFrontier: (seq) => journal.frontier(this, seq),
      rewrite: (delivery) => journal.rewritten(this, delivery),
      transmit: (send) => this.#release(send),
      window: maxInflight,
    });
    return this.#outbox;
  }

  /**
   * The Outbox a send of `delivery` goes through, or undefined when it can go at once: without a
   * durable store, or in a session that ends with its connection (expiry 0), which a restart
   * discards, so nothing is ever resent from it. A delivery of a shared subscription still goes
   * through it: after a restart it may go to another member, which is only allowed if it was
   * never sent [MQTT-4.8.2-5].
   */
  #writeAhead(delivery: Delivery): Outbox | undefined {
    if (this.expiryInterval === 0 && delivery.shared === undefined) return undefined;
    return this.#outboxed();
  }

  /** Writes a new delivery's record (the store mirrors it; the Outbox learns which commit holds it). */
  #record(delivery: Delivery): void {
    this.#deps.journal.added(this, delivery);
    this.#outboxed()?.recordWritten(delivery.seq);
  }

  /**
   * Sends a QoS 1/2 PUBLISH; with a durable store through the Outbox, which lets it go once the
   * records identifying it are committed. A packet id other than the derived one must be committed too.
   */
  #send(outlet: Outlet, delivery: Delivery, dup = false): void {
    const outbox = this.#writeAhead(delivery);
    if (outbox === undefined) {
      this.#transmit(outlet, delivery, dup);
      return;
    }
    const after = delivery.packetId === derivedPacketId(delivery.seq) ? 0 : outbox.stateWritten();
    outbox.publish(delivery, dup, after);
  }

  /** Sends a PUBREL; with a durable store once the delivery's 'pubrel' state is committed. */
  #sendPubrel(outlet: Outlet, delivery: Delivery): void {
    const outbox = this.#writeAhead(delivery);
    if (outbox === undefined) outlet.sendPubrel(delivery.packetId);
    else outbox.pubrel(delivery, outbox.stateWritten());
  }

  /** Writes a PUBLISH the client may read; read access is checked per delivery, so a wide subscription brings only what it may read. */
  #write(outlet: Outlet, delivery: Delivery, dup: boolean): DropReason | undefined {
    const { readable } = this.#deps;
    if (readable !== undefined && outlet.info !== undefined && !readable(outlet.info, delivery.message)) return 'not-authorized';
    return outlet.sendPublish(delivery, dup);
  }

  /** Writes the PUBLISH; false when it could not be sent and the delivery was dropped. */
  #transmit(outlet: Outlet, delivery: Delivery, dup: boolean): boolean {
    const failure = this.#write(outlet, delivery, dup);
    if (failure === undefined) return true;
    // Too large for this client [MQTT-3.1.2-25]: discard as if it had been delivered
    this.#inflight.delete(delivery.packetId);
    this.#drop(delivery, failure);
    return false;
  }

  /**
   * From the Outbox: what identifies `send` is committed. It goes out unless it no longer applies:
   * the delivery ended, or a PUBREC overtook a resent PUBLISH. (The Outbox forgets what was decided
   * for a connection that went away: the next attach resends what is in flight.)
   */
  #release(send: PendingSend): void {
    const outlet = this.#outlet;
    const { delivery, packetId } = send;
    if (outlet === null || this.#inflight.get(packetId) !== delivery) return;
    if (send.pubrel) {
      if (delivery.state === 'pubrel') outlet.sendPubrel(packetId);
    } else if (delivery.state === 'publish' && !this.#transmit(outlet, delivery, send.dup)) {
      queueMicrotask(() => this.#pump()); // its place in the window is free again (not from inside a pump)
    }
  }

  #enqueue(delivery: Delivery): void {
    if (this.#defers(delivery)) return;
    if (delivery.qos > 0) this.#record(delivery);
    const flow = this.#deps.flow;
    if (flow === undefined || this.#outlet === null) {
      this.#queueAdd(delivery);
      return;
    }
    // A consuming subscriber's full queue holds its publishers back instead of dropping (broker/flow.ts)
    const queue = this.#queued();
    const consuming = !this.#flowless && this.consuming(Date.now());
    this.#queueAdd(delivery, consuming);
    if (consuming && queue.full(this.#diskLimits())) {
      this.#pressured = true;
      flow.pressured(this);
    }
  }

  /**
   * Cluster mode: a stored message that meets the full queue of a consuming subscriber is left to
   * the catch-up, which reads it back from the stream once the queue has room (nothing recorded here).
   */
  #defers(delivery: Delivery): boolean {
    const catchUp = this.#deps.catchUp;
    if (catchUp === undefined || this.#outlet === null || delivery.shared !== undefined) return false;
    const queue = this.#queued();
    if (this.#flowless || !queue.full(this.#diskLimits()) || !this.consuming(Date.now())) return false;
    if (!catchUp.defers(this, delivery.message)) return false;
    this.#behind = true;
    return true;
  }

  /** A persistent session's queue with a paging store is bounded by bytes on disk (its memory stays about one page). */
  #diskLimits(): DiskLimits | undefined {
    return this.expiryInterval > 0 && !this.#flowless ? this.#deps.disk : undefined;
  }

  #queueAdd(delivery: Delivery, stretch = false): void {
    const queue = this.#queued();
    const disk = this.#diskLimits();
    if (disk !== undefined && delivery.qos === 0 && queue.full()) {
      this.#drop(delivery, 'queue-full'); // QoS 0 stays in memory only: the memory bounds apply to it
      return;
    }
    for (const dropped of queue.add(delivery, stretch, disk)) this.#drop(dropped, 'queue-full');
  }

  /** Reports a delivery that will not happen, and forgets it in the store. */
  #drop(delivery: Delivery, reason: DropReason): void {
    if (delivery.qos > 0) this.#deps.journal.removed(this, delivery);
    this.#deps.events.dropped(this, delivery.message, reason);
  }

  /** Moves queued messages into the window while there is room; lets held publishers go once the queue is half empty. */
  #pump(): void {
    this.#pumpQueue();
    if (!this.#pressured && !this.#behind) return;
    if (this.#queue !== undefined && !this.#queue.relieved(this.#diskLimits())) return;
    this.#relieve();
    if (this.#behind) this.#deps.catchUp?.room(this);
  }

  #pumpQueue(): void {
    const outlet = this.#outlet;
    if (outlet === null) return;
    if (this.#resend !== undefined && !this.#resendNext(outlet)) return;
    const queue = this.#queue;
    if (queue === undefined) return;
    if (queue.memorySize === 0) queue.fill();
    const now = Date.now();
    const window = this.#window(outlet);
    for (let next = queue.peek(); next !== undefined; next = queue.peek()) {
      if (next.qos > 0 && this.#inflight.size >= window) return;
      queue.shift();
      if (isExpired(next.message, now)) {
        this.#drop(next, 'expired'); // [MQTT-3.3.2-5]
      } else if (next.qos === 0) {
        this.#sendQos0(outlet, next);
      } else {
        this.#inflight.add(next);
        // The stored record names the derived packet id already; only another id must be written first
        if (next.packetId !== derivedPacketId(next.seq)) this.#deps.journal.updated(this, next);
        // [MQTT-3.3.1-1] it may have been sent before a restart: DUP=1 (with the same derived packet id)
        this.#send(outlet, next, this.#outbox?.sentBeforeRestart(next.seq) ?? false);
      }
    }
  }

  /** Resends held-back in-flight deliveries while the window has room; true once none is left. */
  #resendNext(outlet: Outlet): boolean {
    const resend = this.#resend as Delivery[];
    const window = this.#window(outlet);
    while (resend.length > 0 && this.#inflight.size - resend.length < window) {
      const delivery = resend.shift() as Delivery;
      if (this.#inflight.get(delivery.packetId) !== delivery) continue;
      if (delivery.state === 'pubrel') this.#sendPubrel(outlet, delivery);
      else this.#send(outlet, delivery, true);
    }
    if (resend.length > 0) return false;
    this.#resend = undefined;
    return true;
  }

  /** PUBACK from the client: a QoS 1 delivery is complete. Returns false for an unknown packet id. */
  acknowledge(packetId: number, refused = false): boolean {
    const delivery = this.#inflight.get(packetId);
    if (!delivery || delivery.qos !== 1) return false;
    this.#progress();
    this.#complete(delivery, refused);
    return true;
  }

  /** PUBREC from the client. Returns false for an unknown packet id. */
  received(packetId: number, failed: boolean): boolean {
    const delivery = this.#inflight.get(packetId);
    if (!delivery || delivery.qos !== 2) return false;
    this.#progress();
    if (failed) {
      this.#complete(delivery, true); // a PUBREC reason code >= 0x80 ends the exchange [MQTT-4.3.3-8]
      return true;
    }
    delivery.state = 'pubrel';
    this.#deps.journal.updated(this, delivery);
    // [MQTT-4.3.3-4] PUBREL, once the 'pubrel' state is committed: after a crash the PUBLISH is never resent
    if (this.#outlet !== null) this.#sendPubrel(this.#outlet, delivery);
    return true;
  }

  /** PUBCOMP from the client. Returns false for an unknown packet id. */
  completed(packetId: number): boolean {
    const delivery = this.#inflight.get(packetId);
    if (!delivery || delivery.state !== 'pubrel') return false;
    this.#progress();
    this.#complete(delivery);
    return true;
  }

  /** Ends an exchange; a client that answered with a reason code >= 0x80 refused the message. */
  #complete(delivery: Delivery, refused = false): void {
    this.#inflight.delete(delivery.packetId);
    this.#outbox?.completed();
    if (refused) {
      this.#drop(delivery, 'refused');
    } else {
      this.#deps.journal.removed(this, delivery);
      this.#deps.events.delivered(this, delivery.message);
    }
    this.#pump();
  }

  /** QoS 1/2 deliveries in flight, then those queued in memory, in order (for a snapshot). */
  pendingDeliveries(): Delivery[] {
    return [...this.#inflight.values(), ...(this.#queue?.values() ?? [])].filter((d) => d.qos > 0);
  }

  /** Inbound QoS 2 packet ids awaiting PUBREL, with their PUBREC reason codes (for a snapshot). */
  inboundEntries(): [number, number][] {
    return [...(this.#inboundQos2 ?? [])];
  }

  /** The PUBREC reason code of an inbound QoS 2 packet id awaiting PUBREL, or undefined. */
  inboundReason(packetId: number): number | undefined {
    return this.#inboundQos2?.get(packetId);
  }

  /** Number of inbound QoS 2 packet ids awaiting PUBREL. */
  get inboundCount(): number {
    return this.#inboundQos2?.size ?? 0;
  }

  /**
   * Records an inbound QoS 2 packet id until PUBREL, so a resend is not delivered twice
   * [MQTT-4.3.3-9] and is answered with the same PUBREC reason code as the first.
   */
  addInbound(packetId: number, reasonCode: number): void {
    (this.#inboundQos2 ??= new Map()).set(packetId, reasonCode);
    this.#deps.journal.inboundAdded(this, packetId, reasonCode);
  }

  /** PUBREL: releases an inbound QoS 2 packet id. Returns false if it was unknown. */
  releaseInbound(packetId: number): boolean {
    if (!this.#inboundQos2?.delete(packetId)) return false;
    this.#deps.journal.inboundReleased(this, packetId);
    return true;
  }

  /** Deliveries this session has on disk beyond its first page (restore). */
  restoreBacklog(backlog: Backlog & { readonly lastSeq: number }): void {
    this.#mirrored = true;
    this.#queued().setBacklog(backlog);
    if (backlog.lastSeq >= this.#nextSeq) this.#nextSeq = backlog.lastSeq + 1;
    this.#outboxed()?.restore(backlog.lastSeq, 0);
  }

  /** Puts back the send frontier read from the store at start (before the deliveries). */
  restoreFrontier(seq: number): void {
    this.#outboxed()?.restore(0, seq);
  }

  /** Puts back a delivery read from the store at start (no journal write: it is already stored). */
  restoreDelivery(delivery: Delivery): void {
    this.#mirrored = true; // on disk: ending the session deletes it
    if (delivery.seq >= this.#nextSeq) this.#nextSeq = delivery.seq + 1;
    const outbox = this.#outboxed();
    outbox?.restore(delivery.seq, 0);
    if (delivery.packetId > 0) {
      this.#inflight.restore(delivery);
    } else if (outbox?.sentBeforeRestart(delivery.seq) && this.#inflight.get(derivedPacketId(delivery.seq)) === undefined) {
      // Within the send frontier it may have been sent, with its derived packet id: back in flight, in seq order
      delivery.packetId = derivedPacketId(delivery.seq);
      this.#inflight.restore(delivery);
    } else {
      this.#queueAdd(delivery);
    }
  }

  /** Puts back an inbound QoS 2 packet id read from the store at start. */
  restoreInbound(packetId: number, reasonCode: number): void {
    (this.#inboundQos2 ??= new Map()).set(packetId, reasonCode);
  }

  /**
   * Ends the session: messages of shared subscriptions go to another member where the spec allows,
   * everything else undelivered is dropped and reported.
   */
  end(): void {
    const queue = this.#queue;
    for (const d of [...this.#inflight.clear(), ...(queue?.clear() ?? [])]) this.#handOver(d);
    if (queue !== undefined && queue.backlog > 0) {
      queue.drainBacklog((d) => this.#handOver(d)).catch((err: unknown) => this.#deps.events.pageFailed(this, err));
    }
    this.#resend = undefined;
    this.#outbox?.stop();
    this.#relieve();
    for (const id of this.#inboundQos2?.keys() ?? []) this.#deps.journal.inboundReleased(this, id);
    this.#inboundQos2 = undefined;
  }

  /**
   * Forgets everything without reporting it (cluster mode: another node carries the session on).
   * The deliveries' message references are released; the session's record is no longer this
   * node's to write (the cluster store has forgotten it), so it stays as the new owner has it.
   */
  evict(): void {
    for (const d of [...this.#inflight.clear(), ...(this.#queue?.clear() ?? [])]) if (d.qos > 0) this.#deps.journal.removed(this, d);
    this.#resend = undefined;
    this.#outbox?.stop();
    this.#inboundQos2 = undefined;
    this.#outlet = null;
  }

  /**
   * MQTT 5 section 4.8.2: a QoS 1 message of a shared subscription whose session ends unacknowledged
   * SHOULD go to another member; a QoS 2 message already sent MUST NOT [MQTT-4.8.2-5]. One never
   * sent can go to another member at any QoS.
   */
  #handOver(delivery: Delivery): void {
    const movable = delivery.shared !== undefined && (delivery.packetId === 0 || delivery.qos === 1);
    if (movable && this.#deps.events.reroute(this, delivery)) {
      if (delivery.qos > 0) this.#deps.journal.removed(this, delivery);
      return;
    }
    this.#drop(delivery, 'session-ended');
  }

  /** The durable image of this session. */
  toRecord(): SessionRecord {
    return {
      clientId: this.clientId,
      expiryInterval: this.expiryInterval,
      subscriptions: this.subscriptionList(),
      will: this.will,
      willDueAt: this.willDueAt,
      disconnectedAt: this.disconnectedAt,
    };
  }
}
