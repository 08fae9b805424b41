import type { Message } from '../broker/message.js';
import type { Subscription } from '../broker/subscription.js';
import type { QoS } from '../protocol/codec.js';
import type { MessageProperties } from '../broker/message.js';

/** A will message as kept with its session. */
export interface WillRecord {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties: MessageProperties | undefined;
  readonly messageExpiryInterval: number | undefined;
  /** MQTT 5 Will Delay Interval, seconds. */
  readonly delayInterval: number;
}

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

/** Everything restored at start. */
export interface StoredState {
  readonly sessions: readonly SessionRecord[];
  readonly retained: readonly Message[];
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
  /** Opens the store and returns the state to restore. */
  open(): Promise<StoredState>;
  saveSession(record: SessionRecord): void;
  deleteSession(clientId: string): void;
  saveRetained(message: Message): void;
  deleteRetained(topic: string): void;
  /** Records that message ids below `next` are in use. */
  saveMessageIdFloor(next: number): void;
  /** Commits every write queued so far. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
