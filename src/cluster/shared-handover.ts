import type { DropReason, Message } from '../model.js';
import { isExpired } from '../broker/message.js';
import { parseSharedFilter } from '../protocol/topic.js';
import { isStreamId, type ClusterSessionRecord, type StoredDelivery } from './session-record.js';

/** Hand-over requests a survivor has outstanding at once for one session. */
const CONCURRENCY = 64;

/** How the hand-over reaches the group and the stream. */
export interface SharedHandOverPort {
  /** Offers a message to a shared group through NATS: true once a member on some node has it, committed. */
  offer(message: Message, filter: string, group: string): Promise<boolean>;
  /** A message of the MSGS stream by its sequence (undefined when the stream no longer has it). */
  read(seq: number): Promise<Message | undefined>;
}

/** What a hand-over did: the record without the moved deliveries, and how many moved or stayed. */
export interface SharedHandOver {
  readonly record: ClusterSessionRecord;
  readonly moved: number;
  readonly kept: number;
}

/**
 * Whether a delivery of a dead node's session may go to another member of its shared group: a
 * QoS 1 message, sent or not. The hand-over is at least once (a survivor that dies during it, a
 * member that comes back meanwhile, or an answer that comes after the offer's timeout can leave a
 * message with both members), which QoS 1 allows and QoS 2 does not: a QoS 2 message, even one
 * never sent, stays with its member, which gets it when it comes back [MQTT-4.8.2-5]. (A session
 * that ends on a live node hands its never-sent QoS 2 messages on as well: that hand-over is in
 * one process, Session.#handOver.)
 */
export function movable(d: StoredDelivery): boolean {
  return d.shared !== undefined && d.state === 'publish' && d.qos === 1;
}

/**
 * Hands the shared-subscription deliveries of `record` (a session whose node died, just claimed by
 * this node with a compare-and-set) to other members of their groups, on any node, through NATS.
 * A delivery is taken out of the record only once a member has it committed, so nothing is lost:
 * with no other member (no node answers), or with an expired message, it stays with its member.
 */
export async function handOverShared(record: ClusterSessionRecord, port: SharedHandOverPort, now = Date.now()): Promise<SharedHandOver> {
  const candidates = [...record.deliveries].filter(movable).sort((a, b) => a.seq - b.seq);
  if (candidates.length === 0) return { record, moved: 0, kept: 0 };
  const local = new Map(record.messages.map((m) => [m.id, m]));
  const moved = new Set<number>();
  for (let i = 0; i < candidates.length; i += CONCURRENCY) {
    const batch = candidates.slice(i, i + CONCURRENCY);
    const taken = await Promise.all(batch.map((d) => offerOne(d, local, port, now)));
    batch.forEach((d, j) => taken[j] && moved.add(d.seq));
  }
  if (moved.size === 0) return { record, moved: 0, kept: candidates.length };
  const deliveries = record.deliveries.filter((d) => !moved.has(d.seq));
  const referenced = new Set(deliveries.map((d) => d.messageId));
  const messages = record.messages.filter((m) => referenced.has(m.id));
  return { record: { ...record, deliveries, messages }, moved: moved.size, kept: candidates.length - moved.size };
}

/** Offers one delivery's message to its group; false (it stays with its member) on any failure. */
async function offerOne(d: StoredDelivery, local: Map<number, Message>, port: SharedHandOverPort, now: number): Promise<boolean> {
  const shared = parseSharedFilter(d.shared as string);
  if (!shared) return false;
  try {
    const message = isStreamId(d.messageId) ? await port.read(d.messageId) : local.get(d.messageId);
    if (message === undefined || isExpired(message, now)) return false;
    return await port.offer(message, shared.filter, shared.group);
  } catch {
    return false; // the stream could not be read: the delivery stays, nothing is lost
  }
}

/** What the end of a session elsewhere reports: each shared message no member took. */
export interface SharedEndPort extends SharedHandOverPort {
  dropped(message: Message, reason: DropReason): void;
}

/**
 * A session that ends away from the node it lived on: a clean session (Session Expiry Interval 0)
 * whose node died with its connection, or a record that a clean start or the session's expiry
 * replaces on another node. Its QoS 1 shared messages go to other members (handOverShared); every
 * other shared message it held (QoS 2, which may have been sent [MQTT-4.8.2-5], one no member
 * took, an expired one) ends with the session and is reported as dropped, as on a single node.
 * Returns how many moved and how many were dropped.
 */
export async function endShared(record: ClusterSessionRecord, port: SharedEndPort, now = Date.now()): Promise<{ moved: number; dropped: number }> {
  const { record: left, moved } = await handOverShared(record, port, now);
  const local = new Map(left.messages.map((m) => [m.id, m]));
  let dropped = 0;
  for (const d of left.deliveries) {
    if (d.shared === undefined) continue;
    const message = isStreamId(d.messageId) ? await port.read(d.messageId).catch(() => undefined) : local.get(d.messageId);
    if (message === undefined) continue; // gone from the stream (past its max age): nothing left to report
    port.dropped(message, isExpired(message, now) ? 'expired' : 'session-ended');
    dropped++;
  }
  return { moved, dropped };
}
