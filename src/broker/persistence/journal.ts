import { derivedPacketId, type Delivery } from '../inflight.js';
import type { Session, SessionJournal } from '../session.js';
import type { DeliveryRecord, InboundRecord, Store } from '../../store/store.js';

/**
 * Mirrors sessions' QoS 1/2 deliveries into a durable store. Each message is stored once, however
 * many sessions it goes to: the journal counts references in memory and deletes the message with
 * its last delivery. Writes are queued in the store's next group commit; nothing here reads the
 * store. A store that is not durable gets no per-message writes: `snapshot()` at close is enough.
 *
 * Only what a restart could deliver is written: the deliveries of a session that ends with its
 * connection (expiry 0, never above it, see Session.mirrored) are not, since restore ends such a
 * session; those of its shared subscriptions are, since a restart may give them to another member.
 * So a QoS 1 message whose subscribers all have such sessions costs no write, and its PUBACK waits
 * for no sync, as when nobody subscribes.
 */
export class Journal implements SessionJournal {
  readonly #store: Store;
  readonly #refs = new Map<number, number>();
  readonly #active: boolean;
  readonly #everySession: boolean;

  /** `everySession`: write the deliveries of every session, those that end with their connection too (cluster mode). */
  constructor(store: Store, options: { everySession?: boolean } = {}) {
    this.#store = store;
    this.#active = store.durable;
    this.#everySession = options.everySession ?? false;
  }

  /** True when every QoS 1/2 delivery of `session` is written to the store (so a queue may keep it on disk only). */
  mirrors(session: Session): boolean {
    return this.#active && (this.#everySession || session.mirrored);
  }

  /** True when `delivery` of `session` is (to be) written to the store. */
  #writes(session: Session, delivery: Delivery): boolean {
    return this.#active && (this.#everySession || session.mirrored || delivery.shared !== undefined);
  }

  /**
   * Mirrors a session's own record (expiry, will, subscriptions, connected or not). A session that
   * ends with its connection and leaves no will (expiry 0, no will) has nothing a restart could use
   * (broker/persistence/restore.ts ends it), so its record is deleted instead: no stale record of an earlier
   * persistent session survives, and the memory store keeps nothing per idle clean-session client
   * (about 170 bytes each).
   */
  saveSession(session: Session): void {
    if (session.expiryInterval === 0 && session.will === undefined) this.#store.deleteSession(session.clientId);
    else this.#store.saveSession(session.toRecord());
  }

  /** Writes every session's pending deliveries and inbound ids (for a store that is not durable, at close). */
  snapshot(sessions: Iterable<Session>): void {
    const saved = new Set<number>();
    for (const session of sessions) {
      for (const d of session.pendingDeliveries()) {
        if (!saved.has(d.message.id)) this.#store.saveMessage(d.message, true);
        saved.add(d.message.id);
        // No send frontier is kept without a durable store: in-flight deliveries keep their packet ids explicitly
        this.#store.saveDelivery(toRecord(session.clientId, d, true), true);
      }
      for (const [packetId, reasonCode] of session.inboundEntries()) this.#store.saveInbound(inboundRecord(session.clientId, packetId, reasonCode));
    }
  }

  added(session: Session, delivery: Delivery): void {
    if (!this.#writes(session, delivery)) return;
    const id = delivery.message.id;
    const refs = this.#refs.get(id) ?? 0;
    if (refs === 0) this.#store.saveMessage(delivery.message, true);
    this.#refs.set(id, refs + 1);
    this.#store.saveDelivery(toRecord(session.clientId, delivery), true);
  }

  updated(session: Session, delivery: Delivery): void {
    if (!this.#writes(session, delivery)) return;
    this.#store.saveDelivery(toRecord(session.clientId, delivery));
  }

  rewritten(session: Session, delivery: Delivery): void {
    if (!this.#writes(session, delivery)) return;
    this.#store.saveMessage(delivery.message);
    this.#store.saveDelivery(toRecord(session.clientId, delivery));
  }

  frontier(session: Session, seq: number): void {
    if (!this.#active) return;
    this.#store.saveSendFrontier(session.clientId, seq);
  }

  removed(session: Session, delivery: Delivery): void {
    if (!this.#writes(session, delivery)) return;
    this.#store.deleteDelivery(session.clientId, delivery.seq);
    const id = delivery.message.id;
    const refs = (this.#refs.get(id) ?? 1) - 1;
    if (refs > 0) {
      this.#refs.set(id, refs);
    } else {
      this.#refs.delete(id);
      this.#store.deleteMessage(id);
    }
  }

  inboundAdded(session: Session, packetId: number, reasonCode: number): void {
    if (!this.#active) return;
    this.#store.saveInbound(inboundRecord(session.clientId, packetId, reasonCode));
  }

  inboundReleased(session: Session, packetId: number): void {
    if (!this.#active) return;
    this.#store.deleteInbound({ clientId: session.clientId, packetId });
  }

  /** Counts a reference found in the store at start. */
  restoreReference(messageId: number): void {
    this.#refs.set(messageId, (this.#refs.get(messageId) ?? 0) + 1);
  }
}

/** The reason code is stored only when it is not 0x00 (records written before it existed have none). */
function inboundRecord(clientId: string, packetId: number, reasonCode: number): InboundRecord {
  return reasonCode === 0 ? { clientId, packetId } : { clientId, packetId, reasonCode };
}

function toRecord(clientId: string, d: Delivery, explicit = false): DeliveryRecord {
  return {
    clientId,
    seq: d.seq,
    messageId: d.message.id,
    qos: d.qos as 1 | 2,
    retain: d.retain,
    subscriptionIds: d.subscriptionIds,
    // A packet id derived from the seq is not stored: 0 means "queued, or sent with the derived id"
    packetId: !explicit && d.state === 'publish' && d.packetId === derivedPacketId(d.seq) ? 0 : d.packetId,
    state: d.state,
    size: d.message.payload.length,
    shared: d.shared,
  };
}
