/**
 * Shared value types: what a client, a message, a will and a drop are. This module imports
 * nothing, so every layer (protocol, broker, store, plugins) can use these types without
 * depending on another.
 */

/** Quality of service: 0 at most once, 1 at least once, 2 exactly once. */
export type QoS = 0 | 1 | 2;

/** MQTT protocol levels: 3 = 3.1, 4 = 3.1.1, 5 = 5.0. */
export type ProtocolVersion = 3 | 4 | 5;

/** MQTT 5 User Properties as mqtt-packet gives them: a name maps to one value or, repeated, to several. */
export type UserProperties = Record<string, string | string[]>;

/** What plugins learn about a verified client certificate. */
export interface PeerCertificate {
  /** The subject's Common Name (CN), '' when it has none. */
  readonly commonName: string;
  /** SHA-256 fingerprint, colon-separated hex as Node prints it. */
  readonly fingerprint256: string;
}

/** What plugins learn about a connected client. */
export interface ClientInfo {
  readonly id: string;
  readonly username: string | undefined;
  readonly protocolVersion: ProtocolVersion;
  readonly remoteAddress: string | undefined;
  /** The listener the client came in on: 'tcp', 'ws', or a custom name passed to `handle()`. */
  readonly listener: string;
  /** The client certificate verified by a TLS or WSS listener, when the client presented one. */
  readonly certificate?: PeerCertificate | undefined;
}

/** MQTT 5 properties carried with an application message (passed through unchanged). */
export interface MessageProperties {
  readonly payloadFormatIndicator?: boolean;
  readonly contentType?: string;
  readonly responseTopic?: string;
  readonly correlationData?: Buffer;
  readonly userProperties?: UserProperties;
}

/** What every form of an application message carries: a routed message, a will, a log record. */
export interface MessageContent {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly properties: MessageProperties | undefined;
}

/**
 * An application message. Immutable once routed: one object is shared by every subscriber,
 * and per-delivery facts live in a Delivery.
 */
export interface Message extends MessageContent {
  /** Broker-wide id, unique across restarts (allocated by MessageIds). */
  readonly id: number;
  /** Absolute expiry time in ms since the epoch (MQTT 5 Message Expiry Interval), if any. */
  readonly expiresAt: number | undefined;
  /** Client id of the publisher; undefined for messages published by the broker itself. */
  readonly origin: string | undefined;
}

/** A will message as kept with its session. */
export interface WillRecord extends MessageContent {
  readonly messageExpiryInterval: number | undefined;
  /** MQTT 5 Will Delay Interval, seconds. */
  readonly delayInterval: number;
}

/** Why a message did not reach a subscriber (or was not accepted). */
export type DropReason =
  | 'queue-full'
  | 'expired'
  | 'packet-too-large'
  | 'slow-consumer'
  | 'not-authorized'
  | 'session-ended'
  | 'offline'
  | 'plugin-error'
  | 'refused'
  | 'unencodable'
  | 'payload-format-invalid'
  /** It had already crossed this broker through an MQTT bridge (a loop of bridges, see src/mqtt-bridge/via.ts). */
  | 'bridge-loop';

/** A dropped message, reported through `onDropped`. */
export interface Drop {
  readonly clientId: string | undefined;
  readonly message: Message;
  readonly reason: DropReason;
}
