import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { JetStreamClient, Msg, MsgHdrs, NatsConnection, Subscription as NatsSubscription } from 'nats';
import { BrokerError } from '../errors.js';
import type { Plugin } from '../hooks.js';
import type { ClientInfo, DropReason, Message } from '../model.js';
import { decodeMessage, encodeMessage } from '../store/records.js';
import type { ClusterLink } from '../broker/publisher.js';
import type { RouteInterest } from '../broker/router.js';
import { NodeRegistry, type NodeRecord } from './node-registry.js';
import { filterSubjects, subjectMatches, topicSubject } from './subjects.js';
import { ensureStream, streamBase } from './streams.js';
import { chainHold } from './ack-order.js';
import { RecentKeys } from './recent-keys.js';
import { SharedGroups, type SharedArrival } from './shared-groups.js';
import { republished, type Republished } from './republished.js';
import { ShareDirectory } from './share-directory.js';
import { AppendFigures, type ClusterStatus } from './figures.js';
import { NodeWatch } from './node-watch.js';
import { APPEND_TIMEOUT_MS, appendWithRetry, JetStreamAppender } from './appender.js';
import { decodeFrame, FrameBatch, isFrame } from './live-frames.js';
import type { ClusterEngine } from './sessions.js';
import type { ClusterStore } from './session-store.js';
import type { CatchUpFigures } from './catch-up.js';

/** The session records' inbound QoS 2 message ids (ClusterStore): chosen before the append, marked once stored. */
export type InboundLedger = Pick<ClusterStore, 'chooseInbound' | 'inboundMessage' | 'inboundStored' | 'claim'>;

/** Cluster mode: the NATS servers, this node's id, the subject/stream prefix and the JetStream replication factor. */
export interface ClusterOptions {
  readonly servers: readonly string[];
  readonly nodeId: string;
  readonly prefix: string;
  /** 1 for a single nats-server, 3 for a 3-server NATS cluster. */
  readonly replicas: number;
  /** A log sink's lease lapses this long after its holder's last renewal (src/cluster/leases.ts). */
  readonly sinkLeaseMs: number;
}

/** What the cluster node needs of the broker's core. */
export interface ClusterHost {
  readonly logger: Logger;
  /** Routes a message another node accepted to this node's sessions (not retained again, not transformed again). */
  route(message: Message): void;
  /** Hands a message NATS chose this node for to one member of shared group `group` of `filter`; false with none left. */
  routeShared(message: Message, filter: string, group: string): boolean;
  /** Whether shared group `group` of `filter` has a member connected to this node. */
  sharedConnected?(filter: string, group: string): boolean;
  /** Resolves once every session write queued so far is committed (a handed-over message is answered after it). */
  committed?(): Promise<void>;
  /** A message of this node's sessions that reached none of them (counted and reported as a drop). */
  dropped?(message: Message, reason: DropReason): void;
  /** Applies a retained message (or, with an empty payload, its clearing) that another node accepted. */
  retain(message: Message): void;
  /** A message id of this process for a message that arrived from another node. */
  nextMessageId(): number;
  /** Sessions on this node (reported as the sessions it owns). */
  sessionCount(): number;
  /** Cluster sessions (src/cluster/sessions.ts): the node has joined; sessions live in `engine.sessions` from now on. */
  joined?(engine: ClusterEngine): void;
  /** The node is leaving the cluster. */
  leaving?(): void;
  /** Cluster sessions: where an inbound QoS 2 message's id is recorded before its append. */
  readonly inbound?: InboundLedger;
  /** Flow control's catch-up of sessions that fell behind (src/cluster/catch-up.ts): its figures. */
  catchUp?(): CatchUpFigures;
}

/** An inbound QoS 2 message's appends, waiting for the record that names their message id. */
interface DeferredAppend {
  readonly messageId: string;
  readonly start: () => Promise<void>;
}

/** A QoS 0 frame holds at most this many messages and bytes (NATS's max_payload is 1 MB by default). */
const FRAME_MESSAGES = 256;
const FRAME_BYTES = 256 * 1024;
/** How long a node may take to read the cluster's retained messages at start. */
const LOAD_DEADLINE_MS = 60_000;
/** The header naming the incarnation that accepted a message, so a node skips its own. */
const NODE_HEADER = 'Midge-Node';
/** JetStream's deduplication header. */
const MSG_ID_HEADER = 'Nats-Msg-Id';
/** Topics whose subjects are remembered (per kind: live, msgs), so a busy topic is mapped once. */
const SUBJECT_CACHE = 10_000;
/** Stored messages remembered as routed here, by sequence: a gap replay skips them. */
const ROUTED_MEMORY = 65_536;
/** Subjects whose last routed sequence is remembered for gap detection. */
const TRACKED_SUBJECTS = 65_536;
/** A slow-consumer report does not say where the loss began: the replay goes this far back. */
const SLOW_CONSUMER_REPLAY = 16_384;
/** How long a gap replay that failed (JetStream not serving yet) waits before it is tried again. */
const GAP_RETRY_MS = 1000;
/** The longest one gap replay may read the stream. */
const REPLAY_DEADLINE_MS = 30_000;

/**
 * One node of a Midge cluster on NATS JetStream (see docs/cluster.md). Messages accepted here are
 * routed to this node's sessions at once and forwarded to the others: QoS 0 on a core subject, QoS
 * 1/2 appended to the MSGS stream (which republishes them to the same core subjects once stored),
 * and the publisher's acknowledgement waits for that append. Nodes subscribe only to the subjects
 * of their sessions' filters, so a message travels only to nodes with interest. Retained messages
 * live in the RET stream (last value per subject); every node keeps the full index in memory.
 */
export class ClusterNode implements Plugin, ClusterLink, RouteInterest {
  readonly name = 'cluster';
  readonly incarnation = randomUUID();
  readonly #options: ClusterOptions;
  readonly #host: ClusterHost;
  readonly #streams: { msgs: string; ret: string; nodes: string; sessions: string; owned: string };
  /** NATS subjects this node listens on, with how many local filters need each. */
  readonly #interest = new Map<string, { count: number; sub: NatsSubscription | undefined }>();
  /** Overlapping subscriptions bring one message more than once: each is routed once. */
  readonly #recent = new RecentKeys(8192);
  /** Per live subject received: whether more than one of the node's subscriptions matches it (only then can a frame come twice). */
  readonly #overlaps = new Map<string, boolean>();
  /** Stored messages routed here, by stream sequence: once each, whether live, repeated by overlapping subjects or replayed after a gap. */
  readonly #routed = new RecentKeys<number>(ROUTED_MEMORY);
  /** Per stored subject (`<prefix>.msgs.…`): the highest sequence routed here, to see a missed predecessor. */
  readonly #lastOnSubject = new Map<string, number>();
  /** While a gap is replayed: the live stored messages that arrive meanwhile, routed after it. */
  #held: { data: Uint8Array; seq: number; subject: string }[] | undefined;
  /** Gaps waiting for the replay: from which sequence on (exclusive), on one subject or all of them. */
  readonly #gaps: { from: number; subject: string | undefined }[] = [];
  #replaying: Promise<void> | undefined;
  /** Replays after gaps (status, /metrics would be the place; here for tests and logs). */
  gapReplays = 0;
  /** Shared subscriptions: NATS queue groups, so each message reaches one member cluster-wide. */
  readonly #shared: SharedGroups;
  readonly sharesGroups = true;
  /** Whether a topic's QoS 0 messages may share a frame (no shared group announced anywhere matches it). */
  readonly #directory = new ShareDirectory();
  /** JetStream append latency, retries and failures (status, $SYS, /metrics). */
  readonly appends = new AppendFigures();
  readonly #nodeWatch = new NodeWatch();
  /** Per publishing client: the acknowledgement hold of its latest message, so acknowledgements keep their order [MQTT-4.6.0-2]. */
  readonly #tails = new Map<string, Promise<void>>();
  /** Appends of messages whose acknowledgement has not asked for them yet. */
  readonly #appends = new WeakMap<Message, Promise<void>>();
  /** Inbound QoS 2 messages whose appends start once their acknowledgement recorded their message id. */
  readonly #deferred = new WeakMap<Message, DeferredAppend>();
  /** Per client and inbound QoS 2 packet id: its record write and append while they run here. */
  readonly #inboundAppends = new Map<string, Promise<void>>();
  /** Test hook (MIDGE_CRASH_QOS2=recorded|appended): this process kills itself there, as kill -9 would. */
  readonly #crashAt = process.env.MIDGE_CRASH_QOS2;
  #nc: NatsConnection | undefined;
  #js: JetStreamClient | undefined;
  /** Pipelined appends to MSGS and RET (many outstanding, each settled by its PubAck). */
  #appender: JetStreamAppender | undefined;
  /** This node's incarnation as the origin of its QoS 0 frames (live-frames.ts). */
  readonly #origin = Buffer.from(this.incarnation, 'latin1');
  /** Subjects of recent topics, per subject prefix. */
  readonly #subjects = new Map<string, Map<string, string>>();
  /** QoS 0 messages of this turn waiting for their frame, per topic. */
  readonly #outgoing = new Map<string, FrameBatch>();
  #flushing = false;
  /** The number of this node's next QoS 0 frame. */
  #frames = 0;
  /**
   * The start of this node's `Nats-Msg-Id`s: its incarnation in 22 characters (base64url of the
   * UUID's bytes) and a colon. Short, because every stored message carries it as a header, which
   * nats-server copies into each republished message and keeps in its duplicate window.
   */
  readonly #idPrefix = `${Buffer.from(this.incarnation.replaceAll('-', ''), 'hex').toString('base64url')}:`;
  #registry: NodeRegistry | undefined;
  #reachable = false;
  #closed = false;
  /** The shutdown waited for the outstanding acknowledgement holds (settle) already. */
  #settled = false;
  /** The highest MSGS sequence routed here: message identity in the cluster is the stream sequence. */
  #position = 0;
  readonly #storedListeners = new Set<(message: Message) => void>();

  constructor(options: ClusterOptions, host: ClusterHost) {
    this.#options = options;
    this.#host = host;
    const base = streamBase(options.prefix);
    this.#streams = { msgs: `${base}_MSGS`, ret: `${base}_RET`, nodes: `${base}_NODES`, sessions: `${base}_SESSIONS`, owned: `${base}_OWNED` };
    const connected = (filter: string, group: string) => host.sharedConnected?.(filter, group) ?? true;
    this.#shared = new SharedGroups(`${options.prefix}.live`, `${options.prefix}.share`, (msg, filter, group, arrival) => this.#receivedShared(msg, filter, group, arrival), `${options.prefix}.online`, connected);
  }

  /** True while NATS is connected: otherwise the node is not ready and refuses new clients. */
  get connected(): boolean {
    return this.#reachable && !this.#closed;
  }

  /** Connects to NATS, claims the node id, loads the retained messages and starts listening. */
  async init(): Promise<void> {
    const nats = await import('nats');
    const { servers, nodeId, replicas } = this.#options;
    const logger = this.#host.logger;
    let nc: NatsConnection;
    try {
      // noAsyncTraces: no Error (with its stack) captured per request, which cost a quarter of a
      // QoS 1 publisher node's CPU in the cluster benchmark; errors still carry their cause
      nc = await nats.connect({ servers: [...servers], name: `midge-${nodeId}`, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 5000, noAsyncTraces: true });
    } catch (err) {
      throw new BrokerError('ERR_CLUSTER_UNAVAILABLE', `cannot reach NATS at ${servers.join(',')}: ${(err as Error).message}`, { cause: err });
    }
    this.#nc = nc;
    this.#reachable = true;
    void this.#watch(nc);
    this.#appender = new JetStreamAppender(nc, nats.createInbox(), APPEND_TIMEOUT_MS);
    try {
      const jsm = await nc.jetstreamManager({ timeout: APPEND_TIMEOUT_MS });
      await this.#ensureStreams(jsm, nats.RetentionPolicy.Limits);
      this.#js = nc.jetstream({ timeout: APPEND_TIMEOUT_MS });
      const kv = await this.#js.views.kv(this.#streams.nodes, { history: 1, replicas });
      const record: NodeRecord = { nodeId, incarnation: this.incarnation, startedAt: Date.now() };
      this.#registry = new NodeRegistry(kv, record, (err) => logger.fatal({ err }, 'this node lost its node id; it stops serving'));
      await this.#registry.claim();
      await this.#joinSessions(nc, jsm);
      await withDeadline(this.#loadRetained(nats.DeliverPolicy.LastPerSubject), LOAD_DEADLINE_MS, 'loading the retained messages from JetStream');
      for (const [subject, entry] of this.#interest) entry.sub ??= this.#listen(subject);
      this.#shared.start(nc);
      await this.#nodeWatch.start(kv, (err) => logger.warn({ err }, 'stopped following the nodes bucket; the node count is stale'));
      this.#directory.start(this.#nodeWatch);
      this.#announceShares();
    } catch (err) {
      await nc.close().catch(() => undefined);
      this.#appender?.close();
      this.#nc = undefined;
      throw err;
    }
    logger.info({ nodeId, incarnation: this.incarnation, servers }, 'joined the cluster');
  }

  /** Opens the SESSIONS bucket and hands the engine to the cluster sessions (src/cluster/sessions.ts). */
  async #joinSessions(nc: NatsConnection, jsm: Awaited<ReturnType<NatsConnection['jetstreamManager']>>): Promise<void> {
    const js = this.#js as JetStreamClient;
    const sessions = await js.views.kv(this.#streams.sessions, { history: 1, replicas: this.#options.replicas });
    const owned = await js.views.kv(this.#streams.owned, { history: 1, replicas: this.#options.replicas });
    this.#position = (await jsm.streams.info(this.#streams.msgs)).state.last_seq;
    const { prefix, nodeId } = this.#options;
    this.#host.joined?.({
      nc,
      js,
      jsm,
      sessions,
      owned,
      alive: (owner, ms) => this.#registry?.beating(owner.node, owner.incarnation, ms) ?? Promise.resolve(owner.incarnation === this.incarnation),
      prefix,
      owner: { node: nodeId, incarnation: this.incarnation },
      messages: this.#streams.msgs,
      position: () => this.#position,
      onStored: (listener) => {
        this.#storedListeners.add(listener);
        return () => this.#storedListeners.delete(listener);
      },
      added: (filter) => this.added(filter),
      removed: (filter) => this.removed(filter),
      offerShared: (message, filter, group) => this.#shared.offer(encodeMessage(message), filter, group),
    });
  }

  /** Follows the NATS connection: logs when it goes and comes back, for readiness and CONNECT. */
  async #watch(nc: NatsConnection): Promise<void> {
    const logger = this.#host.logger;
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' && this.#reachable) {
        this.#reachable = false;
        // Whatever the MSGS stream republished from here on may not have reached this node: held
        // until the reconnect's replay (nothing arrives while disconnected anyway)
        this.#gap(this.#position, undefined, 'disconnected from NATS');
        logger.warn({ server: status.data }, 'lost the connection to NATS; new clients are refused until it is back');
      } else if (status.type === 'reconnect' && !this.#reachable) {
        this.#reachable = true;
        logger.info({ server: status.data }, 'connected to NATS again');
        this.#replayGaps();
      } else if (status.type === 'error' && /slow consumer/i.test(String(status.data))) {
        this.#gap(Math.max(0, this.#position - SLOW_CONSUMER_REPLAY), undefined, 'NATS reported this node as a slow consumer');
        this.#replayGaps();
      }
    }
  }

  async #ensureStreams(jsm: Awaited<ReturnType<NatsConnection['jetstreamManager']>>, retention: import('nats').RetentionPolicy): Promise<void> {
    const { prefix, replicas } = this.#options;
    const wanted = [
      {
        name: this.#streams.msgs,
        subjects: [`${prefix}.msgs.>`],
        retention,
        num_replicas: replicas,
        max_age: 24 * 3600 * 1e9,
        duplicate_window: 120 * 1e9,
        republish: { src: `${prefix}.msgs.>`, dest: `${prefix}.live.>` },
      },
      { name: this.#streams.ret, subjects: [`${prefix}.ret.>`], retention, num_replicas: replicas, max_msgs_per_subject: 1 },
    ];
    for (const config of wanted) await ensureStream(jsm, config);
  }

  /** Reads the last retained message of every topic, then follows changes on the core subjects. */
  async #loadRetained(lastPerSubject: import('nats').DeliverPolicy): Promise<void> {
    const nc = this.#nc as NatsConnection;
    const js = this.#js as JetStreamClient;
    const { prefix } = this.#options;
    // Changes that arrive while the snapshot loads are applied after it, so the newest wins
    const pending: Msg[] = [];
    let loaded = false;
    nc.subscribe(`${prefix}.ret.>`, {
      callback: (err, msg) => {
        if (err) return;
        if (loaded) this.#retainedChanged(msg.headers, msg.data);
        else pending.push(msg);
      },
    });
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info(this.#streams.ret);
    if (info.state.messages > 0) {
      const consumer = await js.consumers.get(this.#streams.ret, { filterSubjects: `${prefix}.ret.>`, deliver_policy: lastPerSubject });
      const messages = await consumer.consume();
      for await (const m of messages) {
        this.#retainedChanged(undefined, m.data);
        if (m.info.pending === 0) break;
      }
      await messages.close();
    }
    loaded = true;
    for (const msg of pending.splice(0)) this.#retainedChanged(msg.headers, msg.data);
  }

  #retainedChanged(headers: MsgHdrs | undefined, data: Uint8Array): void {
    if (headers?.get(NODE_HEADER) === this.incarnation) return; // applied here when accepted
    try {
      this.#host.retain(decodeMessage(data, this.#host.nextMessageId()));
    } catch (err) {
      this.#host.logger.error({ err }, 'cannot decode a retained message from the cluster');
    }
  }

  /** From the router: a local session subscribed to `filter` (without `$share/group/`; `group` if shared). */
  added(filter: string, group?: string): void {
    if (group !== undefined) {
      this.#shared.add(filter, group);
      return this.#announceShares();
    }
    for (const subject of filterSubjects(`${this.#options.prefix}.live`, filter)) {
      const entry = this.#interest.get(subject);
      if (entry !== undefined) {
        entry.count++;
        continue;
      }
      this.#interest.set(subject, { count: 1, sub: this.#nc === undefined ? undefined : this.#listen(subject) });
      this.#overlaps.clear();
    }
  }

  /** From the router: a local subscription to `filter` (of `group`, if shared) ended. */
  removed(filter: string, group?: string): void {
    if (group !== undefined) {
      this.#shared.delete(filter, group);
      return this.#announceShares();
    }
    for (const subject of filterSubjects(`${this.#options.prefix}.live`, filter)) {
      const entry = this.#interest.get(subject);
      if (entry === undefined || --entry.count > 0) continue;
      entry.sub?.unsubscribe();
      this.#interest.delete(subject);
      this.#overlaps.clear();
      // Not listened to for a while: the messages in between were not missed, they were not wanted
      this.#lastOnSubject.clear();
    }
  }

  /** This node's shared filters changed: its record in the nodes bucket announces them (share-directory.ts). */
  #announceShares(): void {
    const announced = this.#directory.setLocal(this.#shared.filters());
    if (announced !== undefined) this.#registry?.announce(announced);
  }

  #listen(subject: string): NatsSubscription {
    return (this.#nc as NatsConnection).subscribe(subject, { callback: (err, msg) => err === null && this.#received(msg) });
  }

  /**
   * Messages another node accepted (QoS 0, in frames: live-frames.ts), or a stored QoS 1/2
   * message republished by the MSGS stream, this node's own included: those are routed only once
   * stored, with their stream sequence as their id, in stream order.
   */
  #received(msg: Msg): void {
    const stored = republished(msg);
    if (stored !== undefined) {
      const { seq } = stored;
      const subject = stored.subject || msg.subject;
      if (this.#held === undefined) this.#checkPredecessor(stored);
      if (this.#held !== undefined) this.#held.push({ data: msg.data, seq, subject });
      else this.#stored(msg.data, seq, subject);
      return;
    }
    if (!isFrame(msg.data)) return;
    let frame: ReturnType<typeof decodeFrame>;
    try {
      frame = decodeFrame(msg.data, this.#nextId);
    } catch (err) {
      this.#host.logger.error({ err, subject: msg.subject }, 'cannot decode QoS 0 messages from the cluster');
      return;
    }
    if (frame.origin === this.incarnation) return;
    // Overlapping subscriptions bring a whole frame again: its origin and number identify it
    if (this.#overlapping(msg.subject) && !this.#recent.add(`${frame.origin}:${frame.seq}`)) return;
    for (const message of frame.messages) this.#host.route(message);
  }

  readonly #nextId = (): number => this.#host.nextMessageId();

  /** Whether more than one of this node's live subscriptions matches `subject`, remembered per subject. */
  #overlapping(subject: string): boolean {
    let overlapping = this.#overlaps.get(subject);
    if (overlapping === undefined) {
      let matching = 0;
      for (const pattern of this.#interest.keys()) if (subjectMatches(pattern, subject)) matching++;
      overlapping = matching > 1;
      if (this.#overlaps.size >= SUBJECT_CACHE) this.#overlaps.clear();
      this.#overlaps.set(subject, overlapping);
    }
    return overlapping;
  }

  /** From the router: a shared message whose member's session ended here unacknowledged, with no other member on this node. */
  handOver(message: Message, filter: string, group: string): boolean {
    if (this.#closed) return false;
    return this.#shared.handOver(encodeMessage(message), filter, group, () => this.#host.dropped?.(message, 'session-ended'));
  }

  /** Plugin observer: a client connected here; shared groups with a connected member listen for redirects. */
  onConnected(): void {
    this.#shared.refresh();
  }

  /** Plugin observer: a client left; a group whose members here are all offline stops listening for redirects. */
  onDisconnected(): void {
    this.#shared.refresh();
  }

  /**
   * A message NATS gave this node's members of a shared group: this node's own messages included.
   * When none of them is connected, it is redirected to a node with a connected member first.
   */
  #receivedShared(msg: Msg, filter: string, group: string, arrival: SharedArrival): void {
    let messages: Message[];
    try {
      messages = isFrame(msg.data) ? decodeFrame(msg.data, this.#nextId).messages : [decodeMessage(msg.data, this.#host.nextMessageId())];
    } catch (err) {
      this.#host.logger.error({ err, subject: msg.subject }, 'cannot decode a message from the cluster');
      return;
    }
    if (arrival === 'live' && this.#host.sharedConnected?.(filter, group) === false) {
      void this.#redirect(msg, messages, filter, group);
      return;
    }
    this.#routeArrived(msg, messages, filter, group);
  }

  /**
   * Every member of the group here is offline: each message goes to a node with a connected member
   * (as Mosquitto and EMQX give an offline member no share while others are online), and stays
   * here, for an offline member, only when no node answers (no member is connected anywhere).
   */
  async #redirect(msg: Msg, messages: Message[], filter: string, group: string): Promise<void> {
    const taken = await Promise.all(messages.map((m) => this.#shared.redirect(encodeMessage(m), filter, group)));
    const left = messages.filter((_, i) => taken[i] !== true);
    if (left.length > 0 || msg.reply === undefined) this.#routeArrived(msg, left, filter, group);
    else msg.respond(); // a handed-over message: a node with a connected member has it, committed
  }

  /** Routes messages NATS gave this node to its members; a handed-over one is answered once committed. */
  #routeArrived(msg: Msg, messages: Message[], filter: string, group: string): void {
    // A handed-over message (one per request) is answered once a member has it, in its committed
    // session record; unanswered, the sending node counts it lost (or keeps it: see sessions.ts)
    const handedOver = msg.reply !== undefined;
    let routed = true;
    for (const message of messages) routed = this.#routeShared(message, filter, group, !handedOver) && routed;
    if (!handedOver || !routed) return;
    const committed = this.#host.committed?.() ?? Promise.resolve();
    committed.then(
      () => msg.respond(),
      (err: unknown) => this.#host.logger.warn({ err, group, filter }, 'a handed-over shared message is not committed here; its sender is not answered'),
    );
  }

  /** False when no member is left here: the message is counted as dropped (`count`) unless its sender counts it. */
  #routeShared(message: Message, filter: string, group: string, count: boolean): boolean {
    if (this.#host.routeShared(message, filter, group)) return true;
    this.#host.logger.warn({ topic: message.topic, group, filter }, 'a shared subscription message arrived after the last member of its group left this node');
    if (count) this.#host.dropped?.(message, 'session-ended');
    return false;
  }

  /**
   * The live path and the gap replay route a stored message here: once per sequence, in the
   * order they call it, to the sessions and to the restores listening (`onStored`).
   */
  #stored(data: Uint8Array, seq: number, subject: string): void {
    if (!this.#routed.add(seq)) return;
    if (this.#lastOnSubject.size >= TRACKED_SUBJECTS && !this.#lastOnSubject.has(subject)) {
      this.#lastOnSubject.delete(this.#lastOnSubject.keys().next().value as string);
    }
    if (seq > (this.#lastOnSubject.get(subject) ?? 0)) this.#lastOnSubject.set(subject, seq);
    let message: Message;
    try {
      message = decodeMessage(data, seq);
    } catch (err) {
      this.#host.logger.error({ err, subject, seq }, 'cannot decode a message from the cluster');
      return;
    }
    if (seq > this.#position) this.#position = seq;
    this.#host.route(message);
    for (const listener of this.#storedListeners) listener(message);
  }

  /**
   * A live stored message whose predecessor on its subject (the stream's `Nats-Last-Sequence`)
   * never reached this node, although an earlier message of that subject did: the node missed it
   * (a subject this node does not track has no earlier sequence here and is not judged).
   */
  #checkPredecessor(stored: Republished): void {
    const { subject, last: previous, seq } = stored;
    if (!subject || previous === 0) return;
    const seen = this.#lastOnSubject.get(subject);
    if (seen === undefined || previous <= seen || previous >= seq || this.#routed.has(previous)) return;
    this.#gap(seen, subject, `missed sequence ${previous} on ${subject}`);
    this.#replayGaps();
  }

  /**
   * Notes a gap: stored messages after `from` (on `subject`, or on every subject) may be missing
   * here. Live stored messages are held from now on until the replay has filled it.
   */
  #gap(from: number, subject: string | undefined, why: string): void {
    this.#gaps.push({ from, subject });
    this.#held ??= [];
    this.#host.logger.info({ from, subject, why }, 'stored messages may be missing on this node; replaying them from JetStream');
  }

  /** Replays the noted gaps from the MSGS stream (unless NATS is down: the reconnect does it), then routes the held messages. */
  #replayGaps(): void {
    if (this.#replaying !== undefined || !this.#reachable || this.#closed) return;
    this.#replaying = (async () => {
      let gaps: { from: number; subject: string | undefined }[] = [];
      try {
        while (this.#gaps.length > 0 && this.#reachable && !this.#closed) {
          gaps = this.#gaps.splice(0);
          const last = (await (await (this.#nc as NatsConnection).jetstreamManager()).streams.info(this.#streams.msgs)).state.last_seq;
          const everything = gaps.filter((g) => g.subject === undefined);
          if (everything.length > 0) await this.#replay(undefined, Math.min(...everything.map((g) => g.from)), last);
          else {
            const bySubject = new Map<string, number>();
            for (const g of gaps) bySubject.set(g.subject as string, Math.min(g.from, bySubject.get(g.subject as string) ?? Infinity));
            for (const [subject, from] of bySubject) await this.#replay(subject, from, last);
          }
          gaps = [];
          this.gapReplays++;
        }
      } catch (err) {
        // NATS went again, or JetStream is not serving yet (a restarted server electing its leaders): the
        // gaps stay noted and the live messages held, and the replay is tried again (routed ones are skipped)
        this.#gaps.unshift(...gaps);
        this.#host.logger.error({ err }, 'cannot replay the stored messages this node missed; trying again');
        if (!this.#closed) setTimeout(() => this.#replayGaps(), GAP_RETRY_MS).unref();
      } finally {
        this.#replaying = undefined;
        if (this.#gaps.length === 0 || this.#closed) {
          const held = (this.#held ?? []).sort((a, b) => a.seq - b.seq);
          this.#held = undefined;
          for (const { data, seq, subject } of held) this.#stored(data, seq, subject);
        }
      }
    })();
  }

  /** Routes the stored messages (`from`, `last`] of `subject` (or of every subject) that this node has not routed, in stream order. */
  async #replay(subject: string | undefined, from: number, last: number): Promise<void> {
    if (from >= last) return;
    const { DeliverPolicy } = await import('nats');
    const js = this.#js as JetStreamClient;
    const consumer = await js.consumers.get(this.#streams.msgs, { filterSubjects: subject ?? `${this.#options.prefix}.msgs.>`, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from + 1 });
    const iterator = await consumer.consume();
    // Bounded: a range whose messages the stream no longer holds delivers nothing
    let timedOut = false;
    let reached = from;
    const timer = setTimeout(() => {
      timedOut = true;
      void iterator.close();
    }, REPLAY_DEADLINE_MS);
    try {
      for await (const m of iterator) {
        if (m.seq > last) break;
        this.#stored(m.data, m.seq, m.subject);
        reached = m.seq;
        if (m.seq >= last || m.info.pending === 0) break;
      }
    } finally {
      clearTimeout(timer);
      await iterator.close();
    }
    // Cut off by the deadline while messages were still coming: the rest is a gap of its own, replayed
    // next (a replay that got nothing at all in the deadline has nothing left to read: none is noted)
    if (timedOut && reached > from && reached < last) this.#gaps.push({ from: reached, subject });
  }

  /**
   * From the publisher: true when the cluster routes `message` here itself, once JetStream has
   * stored it (QoS 1/2, not $SYS), so that every node delivers it with the same identity.
   */
  routesItself(message: Message): boolean {
    return message.qos > 0 && this.#nc !== undefined && !this.#closed && !message.topic.startsWith('$SYS/');
  }

  /**
   * From the publisher: a message accepted on this node goes to the other nodes. $SYS topics are
   * this node's own and stay here. `accepted` is the message as the client sent it (before
   * onPublish plugins), which its acknowledgement hold asks for.
   */
  forward(message: Message, client: ClientInfo | undefined, accepted: Message): void {
    if (this.#nc === undefined || this.#closed || message.topic.startsWith('$SYS/')) return;
    if (message.qos === 0) this.#sendLive(message);
    if (message.qos === 0 && !message.retain) return;
    const data = encodeMessage(message);
    const messageId = `${this.#idPrefix}${message.id}`;
    if (message.qos === 2 && client !== undefined && this.#host.inbound !== undefined) {
      // Appended once its acknowledgement (holdAcknowledgement, in this same turn) has the record name its id
      const deferred: DeferredAppend = { messageId, start: () => this.#appendAs(message, data, messageId) };
      this.#deferred.set(accepted, deferred);
      queueMicrotask(() => {
        if (this.#deferred.get(accepted) !== deferred) return;
        this.#deferred.delete(accepted); // not a client's PUBLISH awaiting PUBREC (an MQTT bridge's): appended at once
        const append = this.#appendAs(message, data, messageId);
        append.catch((err: unknown) => this.#host.logger.error({ err, topic: message.topic }, 'cannot store a message in JetStream: other nodes miss it'));
        this.#appends.set(accepted, append);
      });
      return;
    }
    const append = this.#appendAs(message, data, messageId);
    const acknowledged = client !== undefined && message.qos > 0;
    // A failure is the publisher's answer when its acknowledgement waits; anything else (a will, a
    // broker publish, a QoS 0 retained message) is logged here, never left as an unhandled rejection
    append.catch((err: unknown) => {
      if (!acknowledged) this.#host.logger.error({ err, topic: message.topic }, 'cannot store a message in JetStream: other nodes miss it');
    });
    if (acknowledged) this.#appends.set(accepted, append);
  }

  /** Appends `message` (encoded: `data`) to MSGS as `messageId` (QoS 1/2), and to RET when retained. */
  #appendAs(message: Message, data: Uint8Array, messageId: string): Promise<void> {
    const { prefix } = this.#options;
    const stored: Promise<void>[] = [];
    if (message.qos > 0) stored.push(this.#append(this.#subject(`${prefix}.msgs`, message.topic), data, headerBlock(messageId)));
    // A retained change names its node, which applied it when it accepted it (#retainedChanged)
    if (message.retain) stored.push(this.#append(topicSubject(`${prefix}.ret`, message.topic), data, headerBlock(retainedMessageId(messageId), this.incarnation)));
    return stored.length === 1 ? (stored[0] as Promise<void>) : Promise.all(stored).then(() => undefined);
  }

  /** The subject of `topic` under `prefix`, remembered for busy topics. */
  #subject(prefix: string, topic: string): string {
    let cache = this.#subjects.get(prefix);
    if (cache === undefined) this.#subjects.set(prefix, (cache = new Map()));
    let subject = cache.get(topic);
    if (subject === undefined) {
      if (cache.size >= SUBJECT_CACHE) cache.clear();
      subject = topicSubject(prefix, topic);
      cache.set(topic, subject);
    }
    return subject;
  }

  /**
   * A QoS 0 message for the other nodes. The messages of one topic accepted in one event-loop turn
   * travel in one frame (live-frames.ts), sent once the turn's I/O is done: one NATS message, one
   * parse and one dispatch on every node for all of them, in the order they were accepted. Unless
   * a shared group may match the topic (share-directory.ts): then each message is a frame of its own.
   */
  #sendLive(message: Message): void {
    let batch = this.#outgoing.get(message.topic);
    const alone = !this.#directory.batchable(message.topic);
    if (batch === undefined) this.#outgoing.set(message.topic, (batch = new FrameBatch(message.topic)));
    else if (alone || batch.size >= FRAME_MESSAGES || batch.bytes + message.payload.length > FRAME_BYTES) {
      this.#publishFrame(batch);
      this.#outgoing.set(message.topic, (batch = new FrameBatch(message.topic)));
    }
    batch.add(message);
    if (alone) {
      // A shared group may match: one message per NATS message, so NATS picks a node for each
      this.#publishFrame(batch);
      this.#outgoing.delete(message.topic);
      return;
    }
    if (!this.#flushing) {
      this.#flushing = true;
      setImmediate(this.#flushLive);
    }
  }

  /** Sends the frames of this turn's QoS 0 messages. */
  readonly #flushLive = (): void => {
    this.#flushing = false;
    for (const batch of this.#outgoing.values()) this.#publishFrame(batch);
    this.#outgoing.clear();
  };

  #publishFrame(batch: FrameBatch): void {
    if (this.#nc === undefined) return;
    const subject = this.#subject(`${this.#options.prefix}.live`, batch.topic);
    try {
      this.#nc.publish(subject, batch.encode(this.#origin, this.#frames++));
    } catch (err) {
      this.#host.logger.error({ err, subject, messages: batch.size }, 'cannot send QoS 0 messages to the other nodes');
    }
  }

  /**
   * Appends to a stream, retrying with the same message id (JetStream drops the duplicate) while
   * the stream has no leader or NATS is unreachable; a stall of several seconds is normal.
   */
  #append(subject: string, data: Uint8Array, header: Buffer): Promise<void> {
    const started = performance.now();
    const attempt = () => (this.#appender as JetStreamAppender).append(subject, data, header);
    const done = () => this.appends.appended(performance.now() - started);
    const retrying = (err: unknown) => {
      this.appends.retries++;
      this.#host.logger.warn({ err, subject }, 'JetStream append failed; retrying with the same message id');
    };
    // The first attempt on its own (most appends succeed at once), the retry loop after a failure
    return attempt().then(done, (err: unknown) => {
      if (this.#closed) {
        this.appends.failures++;
        throw new BrokerError('ERR_CLUSTER_UNAVAILABLE', (err as Error).message, { cause: err });
      }
      retrying(err);
      return appendWithRetry(attempt, () => this.#closed, '', retrying).then(done, (failed: unknown) => {
        this.appends.failures++;
        throw failed;
      });
    });
  }

  /**
   * The publisher's PUBACK/PUBREC waits until JetStream holds the message, in the client's order.
   * An inbound QoS 2 message (`packetId`, saved as awaiting PUBREL just before) is appended only
   * once the session record names its message id: see `resent`.
   */
  holdAcknowledgement(client: ClientInfo, message: Message, packetId?: number): Promise<void> | undefined {
    const deferred = this.#deferred.get(message);
    if (deferred !== undefined) {
      this.#deferred.delete(message);
      return chainHold(this.#tails, client.id, this.#recordThenAppend(client.id, packetId, deferred));
    }
    const append = this.#appends.get(message);
    if (append === undefined) return undefined;
    this.#appends.delete(message);
    return chainHold(this.#tails, client.id, append);
  }

  /**
   * Writes the session record naming the message id of inbound QoS 2 packet id `packetId`, then
   * appends the message under that id. A kill between the two leaves a record naming a message
   * that may not be stored: the resend is appended under the recorded id (`resent`).
   */
  #recordThenAppend(clientId: string, packetId: number | undefined, deferred: DeferredAppend): Promise<void> {
    const ledger = this.#host.inbound as InboundLedger;
    if (packetId === undefined || !ledger.chooseInbound(clientId, packetId, deferred.messageId)) return deferred.start();
    return this.#inboundWork(clientId, packetId, async () => {
      if (!(await ledger.claim(clientId))) throw new BrokerError('ERR_SESSION_TAKEN_OVER', 'the session record could not be written');
      this.#crashPoint('recorded');
      await deferred.start();
      ledger.inboundStored(clientId, packetId, deferred.messageId);
      this.#crashPoint('appended');
    });
  }

  /**
   * A QoS 2 PUBLISH resent with a packet id still awaiting PUBREL [MQTT-4.3.3-9]: its PUBREC waits
   * for the first one's record and append while they run here; when the session came from another
   * process (a kill, a takeover) and its record names the message id without knowing it stored, the
   * resent message (`message()`, transformed as the first was) is appended again under that id:
   * JetStream stores it once (duplicate window: 120 s). mqtt.js resends with DUP=0, so every resend
   * is treated so. Undefined: the message is stored, or it was never appended (refused or dropped).
   */
  resent(client: ClientInfo, packetId: number, message: () => Message | null): Promise<void> | undefined {
    const running = this.#inboundAppends.get(inboundKey(client.id, packetId));
    if (running !== undefined) return chainHold(this.#tails, client.id, running);
    const ledger = this.#host.inbound;
    const recorded = ledger?.inboundMessage(client.id, packetId);
    if (ledger === undefined || recorded === undefined || recorded.stored || this.#nc === undefined || this.#closed) return undefined;
    const again = message();
    if (again === null) return undefined;
    // Applied on the node that accepted it first; other nodes apply what the RET append publishes
    if (again.retain && !recorded.messageId.startsWith(this.#idPrefix)) this.#host.retain(again);
    const work = this.#inboundWork(client.id, packetId, async () => {
      await this.#appendAs(again, encodeMessage(again), recorded.messageId);
      ledger.inboundStored(client.id, packetId, recorded.messageId);
    });
    return chainHold(this.#tails, client.id, work);
  }

  /** Runs the record write and append of an inbound QoS 2 packet id, known to a resend while it runs. */
  #inboundWork(clientId: string, packetId: number, run: () => Promise<void>): Promise<void> {
    const key = inboundKey(clientId, packetId);
    const work = run();
    this.#inboundAppends.set(key, work);
    const forget = () => {
      if (this.#inboundAppends.get(key) === work) this.#inboundAppends.delete(key);
    };
    work.then(forget, forget);
    return work;
  }

  /** The test hook MIDGE_CRASH_QOS2: SIGKILL, exactly as `kill -9` from outside. */
  #crashPoint(at: 'recorded' | 'appended'): void {
    if (this.#crashAt === at) process.kill(process.pid, 'SIGKILL');
  }

  /** This node's cluster figures. */
  status(): ClusterStatus {
    const a = this.appends;
    return {
      nodeId: this.#options.nodeId,
      incarnation: this.incarnation,
      connected: this.connected,
      nodesSeen: this.#nodeWatch.live(),
      sessionsOwned: this.#host.sessionCount(),
      sharedGroups: this.#shared.size,
      append: { count: a.count, retries: a.retries, failures: a.failures, p50Ms: a.percentile(50), p99Ms: a.percentile(99) },
      catchUp: this.#host.catchUp?.() ?? { deferred: 0, read: 0, episodes: 0, behind: 0 },
    };
  }

  /** The live nodes of the cluster. */
  nodes(): Promise<NodeRecord[]> {
    return this.#registry?.nodes() ?? Promise.resolve([]);
  }

  /**
   * A clean shutdown, before the connections close: waits (at most APPEND_TIMEOUT_MS) for the
   * acknowledgement holds outstanding now, so that publishers whose messages JetStream stores get
   * their PUBACK/PUBREC instead of losing it with their connection. Not while NATS is unreachable:
   * no PubAck can come then.
   */
  async settle(): Promise<void> {
    if (this.#settled || !this.connected) return;
    this.#settled = true;
    const holds = [...this.#tails.values(), ...this.#inboundAppends.values()];
    if (holds.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise((resolve) => (timer = setTimeout(resolve, APPEND_TIMEOUT_MS)));
    await Promise.race([Promise.allSettled(holds), bound]);
    clearTimeout(timer);
  }

  /** Leaves the cluster: gives the node id back and closes the NATS connection. */
  async close(): Promise<void> {
    this.#flushLive();
    // Appends still awaiting their PubAck (draining would drop it) settle first, within the bound (once per shutdown)
    await this.settle();
    this.#closed = true;
    this.#nodeWatch.stop();
    this.#host.leaving?.();
    await this.#registry?.release();
    await this.#nc?.drain().catch(() => undefined);
    this.#appender?.close();
    this.#nc = undefined;
  }
}

/**
 * The NATS/1.0 header block of an append: its `Nats-Msg-Id` (JetStream's deduplication) and, for
 * a retained change, the node that accepted it. Nothing else: a stored message without the node
 * header is smaller in the stream, in the duplicate window and in every republished copy.
 */
function headerBlock(msgID: string, node?: string): Buffer {
  return Buffer.from(node === undefined ? `NATS/1.0\r\n${MSG_ID_HEADER}: ${msgID}\r\n\r\n` : `NATS/1.0\r\n${NODE_HEADER}: ${node}\r\n${MSG_ID_HEADER}: ${msgID}\r\n\r\n`, 'latin1');
}

/** The key of an inbound QoS 2 packet id of a client. */
function inboundKey(clientId: string, packetId: number): string {
  return `${packetId}:${clientId}`;
}

/** The RET append's `Nats-Msg-Id` of a message appended to MSGS as `messageId` (`<incarnation>:<id>` → `<incarnation>:r<id>`). */
function retainedMessageId(messageId: string): string {
  const colon = messageId.indexOf(':');
  return `${messageId.slice(0, colon + 1)}r${messageId.slice(colon + 1)}`;
}

/** `work`, or ERR_CLUSTER_UNAVAILABLE once `ms` have passed without it settling. */
async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BrokerError('ERR_CLUSTER_UNAVAILABLE', `${what} took over ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
