import { createHash } from 'node:crypto';
import type { Message } from '../model.js';
import { decodeMessage, decodeSession, encodeMessage, encodeSession } from '../store/records.js';
import type { DeliveryRecord, SessionRecord } from '../store/store.js';

/**
 * Message ids of this process start here in cluster mode; below are the sequences of the MSGS
 * stream, which are the identity of every QoS 1/2 message routed in the cluster. A delivery whose
 * message id is below is found again in the stream; one above (a retained message sent on
 * SUBSCRIBE) carries its message in the session record.
 */
export const LOCAL_MESSAGE_IDS = 2 ** 48;

/** Whether a message id is a MSGS stream sequence. */
export function isStreamId(id: number): boolean {
  return id < LOCAL_MESSAGE_IDS;
}

/** The node process that owns a session: only it writes the session's record. */
export interface SessionOwner {
  readonly node: string;
  readonly incarnation: string;
}

/**
 * An inbound QoS 2 packet id awaiting PUBREL: its PUBREC reason code and, for a message appended
 * to the MSGS stream, the `Nats-Msg-Id` chosen for it (written before the append, so a resend of
 * the packet id on any node is appended again under the same id, which JetStream deduplicates),
 * with `1` once the append is known to be stored.
 */
export type InboundEntry = readonly [packetId: number, reasonCode: number, messageId?: string, stored?: 1];

/** A delivery in a session record (its client id is the record's). */
export type StoredDelivery = Omit<DeliveryRecord, 'clientId'>;

/**
 * A session in the SESSIONS bucket. `deliveries` are those that may have been sent (in flight,
 * or within the send frontier) and those whose message is not in the stream; every other QoS 1/2
 * message of the session is found again by replaying the MSGS stream from `floor + 1`. A clean
 * session's record (`session` undefined) lists only its shared-subscription deliveries, queued
 * ones included: if its node dies, a survivor hands them to other members (shared-handover.ts).
 */
export interface ClusterSessionRecord {
  readonly clientId: string;
  readonly owner: SessionOwner;
  /** The session as the broker core keeps it; undefined while a clean-session client is connected. */
  readonly session: SessionRecord | undefined;
  readonly frontier: number;
  /** Every matching stream message up to this sequence is completed or listed in `deliveries`. */
  readonly floor: number;
  readonly deliveries: readonly StoredDelivery[];
  /** Messages of deliveries that are not in the stream. */
  readonly messages: readonly Message[];
  /** Inbound QoS 2 packet ids awaiting PUBREL. */
  readonly inbound: readonly InboundEntry[];
}

/** The bucket key of a client id (client ids may hold any character; keys may not). */
export function sessionKey(clientId: string): string {
  return `s.${createHash('sha256').update(clientId).digest('base64url')}`;
}

interface JsonRecord {
  v: 1;
  clientId: string;
  owner: SessionOwner;
  session?: string;
  frontier: number;
  floor: number;
  deliveries: StoredDelivery[];
  messages: string[];
  inbound: InboundEntry[];
}

/** A session record as JSON (format 1). */
export function encodeRecord(r: ClusterSessionRecord): Uint8Array {
  const json: JsonRecord = {
    v: 1,
    clientId: r.clientId,
    owner: r.owner,
    session: r.session && encodeSession(r.session).toString('utf8'),
    frontier: r.frontier,
    floor: r.floor,
    deliveries: [...r.deliveries],
    messages: r.messages.map((m) => encodeMessage(m).toString('base64')),
    inbound: [...r.inbound],
  };
  return Buffer.from(JSON.stringify(json));
}

/** Inverse of encodeRecord; throws on another format. */
export function decodeRecord(data: Uint8Array): ClusterSessionRecord {
  const json = JSON.parse(Buffer.from(data).toString('utf8')) as JsonRecord;
  if (json.v !== 1) throw new Error(`session record format ${String(json.v)} is not known`);
  return {
    clientId: json.clientId,
    owner: json.owner,
    session: json.session === undefined ? undefined : decodeSession(Buffer.from(json.session, 'utf8')),
    frontier: json.frontier,
    floor: json.floor,
    deliveries: json.deliveries,
    messages: json.messages.map((m) => decodeMessage(Buffer.from(m, 'base64'))),
    inbound: json.inbound,
  };
}
