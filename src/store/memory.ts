import type { Message } from '../model.js';
import { countReferences } from './references.js';
import type { DeliveryRecord, InboundRecord, SessionRecord, Store, StoredState } from './store.js';

/**
 * A Store kept in process memory. It survives `broker.close()`, and a new broker given the same
 * instance restores from it, but not a process exit.
 */
export class MemoryStore implements Store {
  readonly durable = false;
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #retained = new Map<string, Message>();
  readonly #messages = new Map<number, Message>();
  readonly #deliveries = new Map<string, DeliveryRecord>();
  readonly #inbound = new Map<string, InboundRecord>();
  readonly #frontiers = new Map<string, number>();
  #nextMessageId = 1;

  async open(): Promise<StoredState> {
    return {
      sessions: [...this.#sessions.values()],
      retained: [...this.#retained.values()],
      messages: [...this.#messages.values()],
      deliveries: [...this.#deliveries.values()],
      backlogs: [],
      references: countReferences(this.#deliveries.values()),
      inbound: [...this.#inbound.values()],
      frontiers: new Map(this.#frontiers),
      nextMessageId: this.#nextMessageId,
    };
  }

  saveSession(record: SessionRecord): void {
    this.#sessions.set(record.clientId, record);
  }

  deleteSession(clientId: string): void {
    this.#sessions.delete(clientId);
    this.#frontiers.delete(clientId);
  }

  saveSendFrontier(clientId: string, seq: number): void {
    this.#frontiers.set(clientId, seq);
  }

  saveMessage(message: Message): void {
    this.#messages.set(message.id, message);
  }

  deleteMessage(id: number): void {
    this.#messages.delete(id);
  }

  saveDelivery(record: DeliveryRecord): void {
    this.#deliveries.set(`${record.clientId}\u0000${record.seq}`, record);
  }

  deleteDelivery(clientId: string, seq: number): void {
    this.#deliveries.delete(`${clientId}\u0000${seq}`);
  }

  saveInbound(record: InboundRecord): void {
    this.#inbound.set(`${record.clientId}\u0000${record.packetId}`, record);
  }

  deleteInbound(record: InboundRecord): void {
    this.#inbound.delete(`${record.clientId}\u0000${record.packetId}`);
  }

  saveRetained(message: Message): void {
    this.#retained.set(message.topic, message);
  }

  deleteRetained(topic: string): void {
    this.#retained.delete(topic);
  }

  saveMessageIdFloor(next: number): void {
    if (next > this.#nextMessageId) this.#nextMessageId = next;
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {}
}
