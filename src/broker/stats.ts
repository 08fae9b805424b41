import type { Logger } from 'pino';
import type { DropReason } from '../model.js';

/** Broker-wide counters (read by $SYS, metrics and tests). Plain numbers: counting costs an increment. */
export class Stats {
  readonly startedAt = Date.now();
  connectionsTotal = 0;
  messagesReceived = 0;
  messagesSent = 0;
  /** PUBLISH packets received from clients, by their QoS. */
  readonly messagesReceivedByQos: [number, number, number] = [0, 0, 0];
  /** PUBLISH packets sent to clients (retransmissions not counted), by the QoS they were sent at. */
  readonly messagesSentByQos: [number, number, number] = [0, 0, 0];
  /** Control packets of every type, and the bytes that carried them (MQTT bytes, before TLS or WebSocket framing). */
  packetsReceived = 0;
  packetsSent = 0;
  bytesReceived = 0;
  bytesSent = 0;
  /** Accepted connections, by listener name: a plain object, so it shows in JSON and in logs like the other counters. */
  readonly connectionsByListener: Record<string, number> = Object.create(null) as Record<string, number>;
  /** Store commits that failed (their acknowledgements were withheld). */
  storeErrors = 0;
  readonly dropped: Record<DropReason, number> = {
    'queue-full': 0,
    expired: 0,
    'packet-too-large': 0,
    'slow-consumer': 0,
    'not-authorized': 0,
    'session-ended': 0,
    offline: 0,
    'plugin-error': 0,
    refused: 0,
    unencodable: 0,
    'payload-format-invalid': 0,
    'bridge-loop': 0,
  };
}

/**
 * The one writer of `Stats.storeErrors`: counts a failed store operation and logs it with `fields`.
 * Acknowledgements it held are refused by their own path (handlers/commit.ts).
 */
export function storeFailed(stats: Stats, logger: Logger, err: unknown, fields: Record<string, unknown>, text: string): void {
  stats.storeErrors++;
  logger.error({ err, ...fields }, text);
}
