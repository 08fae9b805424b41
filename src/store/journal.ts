import type { Delivery } from '../broker/inflight.js';
import type { Session, SessionJournal } from '../broker/session.js';
import type { DeliveryRecord, Store } from './store.js';

/**
 * Mirrors sessions' QoS 1/2 deliveries into the store. Each message is stored once, however many
 * sessions it goes to: the journal counts references in memory and deletes the message with its
 * last delivery. Writes are queued in the store's next group commit; nothing here reads the store.
 */
export class Journal implements SessionJournal {
  readonly #store: Store;
  readonly #refs = new Map<number, number>();

  constructor(store: Store) {
    this.#store = store;
  }

  added(session: Session, delivery: Delivery): void {
    const id = delivery.message.id;
    const refs = this.#refs.get(id) ?? 0;
    if (refs === 0) this.#store.saveMessage(delivery.message, true);
    this.#refs.set(id, refs + 1);
    this.#store.saveDelivery(toRecord(session.clientId, delivery), true);
  }

  updated(session: Session, delivery: Delivery): void {
    this.#store.saveDelivery(toRecord(session.clientId, delivery));
  }

  removed(session: Session, delivery: Delivery): void {
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

  inboundAdded(session: Session, packetId: number): void {
    this.#store.saveInbound({ clientId: session.clientId, packetId });
  }

  inboundReleased(session: Session, packetId: number): void {
    this.#store.deleteInbound({ clientId: session.clientId, packetId });
  }

  /** Counts a reference found in the store at start. */
  restoreReference(messageId: number): void {
    this.#refs.set(messageId, (this.#refs.get(messageId) ?? 0) + 1);
  }
}

function toRecord(clientId: string, d: Delivery): DeliveryRecord {
  return {
    clientId,
    seq: d.seq,
    messageId: d.message.id,
    qos: d.qos as 1 | 2,
    retain: d.retain,
    subscriptionIds: d.subscriptionIds,
    packetId: d.packetId,
    state: d.state,
    size: d.message.payload.length,
  };
}
