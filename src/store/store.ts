import type { Message, WillRecord } from '../model.js';
import type { Subscription } from '../broker/subscription.js';

export type { WillRecord } from '../model.js';

/** The durable image of a session (its in-memory Session is the source of truth). */
export interface SessionRecord {
  readonly clientId: string;
  /** Session Expiry Interval in seconds; 0xFFFFFFFF never expires. */
  readonly expiryInterval: number;
  readonly subscriptions: readonly Subscription[];
  readonly will: WillRecord | undefined;
  /** When a delayed will is due (ms since epoch), if its delay was running. */
  readonly willDueAt: number | undefined;
  /** When the client went offline (ms since epoch), or undefined while connected. */
  readonly disconnectedAt: number | undefined;
}

/**
 * One QoS 1/2 message on its way to one session. packetId 0: queued, or in flight with the packet
 * id derived from its seq (which one is told by the session's send frontier); otherwise in flight
 * with that packet id.
 */
export interface DeliveryRecord {
  readonly clientId: string;
  /** Order within the session; increases across restarts. */
  readonly seq: number;
  readonly messageId: number;
  readonly qos: 1 | 2;
  readonly retain: boolean;
  readonly subscriptionIds: readonly number[] | undefined;
  /** 0 while queued or sent with the packet id derived from `seq`; otherwise the packet id it was sent with. */
  readonly packetId: number;
  /** QoS 2: waiting for PUBREC ('publish') or PUBCOMP ('pubrel'). */
  readonly state: 'publish' | 'pubrel';
  /** Payload bytes, so queue bounds can be restored without reading the message. */
  readonly size: number;
  /** The shared subscription it came through (see Delivery.shared). */
  readonly shared?: string | undefined;
}

/** Deliveries a session has on disk beyond what `open()` returned. */
export interface BacklogRecord {
  readonly clientId: string;
  readonly count: number;
  readonly bytes: number;
  /** Highest seq on disk, so new deliveries never reuse one. */
  readonly lastSeq: number;
}

/** An inbound QoS 2 packet id received and not yet released by PUBREL. */
export interface InboundRecord {
  readonly clientId: string;
  readonly packetId: number;
  /** The reason code of the PUBREC sent for it (0x10 when nobody subscribed), answered again to a resend; 0 when absent. */
  readonly reasonCode?: number;
}

/** Everything restored at start. */
export interface StoredState {
  readonly sessions: readonly SessionRecord[];
  readonly retained: readonly Message[];
  /** Messages referenced by the deliveries returned, each stored once. */
  readonly messages: readonly Message[];
  /**
   * Deliveries of every session, in any order (restore sorts them by seq): all in-flight ones and,
   * with a page size, the first page of each queue; the rest are in `backlogs`.
   */
  readonly deliveries: readonly DeliveryRecord[];
  /** Per session, deliveries left on disk (paging stores only). */
  readonly backlogs: readonly BacklogRecord[];
  /** How many stored deliveries reference each message id (all of them, returned or not). */
  readonly references: ReadonlyMap<number, number>;
  readonly inbound: readonly InboundRecord[];
  /** Per session, its send frontier: no delivery with a higher seq was ever sent. */
  readonly frontiers: ReadonlyMap<string, number>;
  /** Lowest message id that was never used. */
  readonly nextMessageId: number;
}

/**
 * A durable mirror of broker state. Memory is the source of truth: the broker reads the store
 * once, in `open()`, and afterwards only writes through. Writes are queued synchronously and
 * committed together by `flush()` (group commit); nothing on the hot path reads the store.
 */
export interface Store {
  /** True when committed writes survive a process crash. */
  readonly durable: boolean;
  /**
   * Opens the store and returns the state to restore. With `queuePage`, a store that can page
   * returns at most that many queued deliveries per session and reports the rest as backlogs.
   */
  open(options?: { queuePage?: number }): Promise<StoredState>;
  /**
   * Paging stores only: a session's stored deliveries with seq > afterSeq, oldest first, at most
   * `limit`, with the messages they reference. Used off the hot path, when a queue runs low.
   */
  readDeliveries?(clientId: string, afterSeq: number, limit: number): Promise<{ deliveries: DeliveryRecord[]; messages: Message[] }>;
  saveSession(record: SessionRecord): void;
  /** Deletes the session record and its send frontier (its deliveries and inbound ids are deleted one by one by the caller). */
  deleteSession(clientId: string): void;
  /**
   * Records a session's send frontier: a PUBLISH with a higher seq has never been sent, one up to
   * it may have been (so after a restart it is resent with DUP=1).
   */
  saveSendFrontier(clientId: string, seq: number): void;
  /** `isNew`: the message is not stored yet (lets a store skip a write that a delete soon cancels). */
  saveMessage(message: Message, isNew?: boolean): void;
  deleteMessage(id: number): void;
  saveDelivery(record: DeliveryRecord, isNew?: boolean): void;
  deleteDelivery(clientId: string, seq: number): void;
  saveInbound(record: InboundRecord): void;
  deleteInbound(record: InboundRecord): void;
  saveRetained(message: Message): void;
  deleteRetained(topic: string): void;
  /** Records that message ids below `next` are in use. */
  saveMessageIdFloor(next: number): void;
  /**
   * Resolves once every write queued so far is committed (synced, in fsync mode). Commits are
   * in order, so waiting on it also waits for every earlier commit. Rejects if the commit failed.
   */
  flush(): Promise<void>;
  close(): Promise<void>;
  /** Where the store keeps its files, for stores that have a directory (the bridge's admin socket lives there). */
  readonly location?: string;
  /**
   * Optional: a sorted key space inside this store whose writes join the store's group commit
   * (the bridge log uses it, so a message and its log record become durable together). A store
   * without it gets an in-memory log.
   */
  logBackend?(): LogBackend;
  /** Optional: calls `observer` after each commit with its write count and duration (metrics). */
  observeCommits?(observer: (operations: number, ms: number) => void): void;
}

/** A key range; bounds as in abstract-level. */
export interface KeyRange {
  gte?: string;
  gt?: string;
  lt?: string;
  limit?: number;
  reverse?: boolean;
}

/**
 * A sorted key-value space. Writes are queued synchronously and committed with the owner's next
 * group commit; `flush()` resolves once everything queued so far is committed. Reads see
 * committed data only.
 */
export interface LogBackend {
  /** True when committed writes survive a crash. */
  readonly durable: boolean;
  put(key: string, value: Uint8Array): void;
  del(key: string): void;
  get(key: string): Promise<Uint8Array | undefined>;
  entries(range: KeyRange): AsyncIterable<[string, Uint8Array]>;
  flush(): Promise<void>;
}
