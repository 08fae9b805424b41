import type { Message } from '../broker/message.js';
import type { SessionRecord, Store, StoredState } from './store.js';

/**
 * A Store kept in process memory. It survives `broker.close()` and a new broker given the same
 * instance restores from it, but not a process exit.
 */
export class MemoryStore implements Store {
  readonly durable = false;
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #retained = new Map<string, Message>();
  #nextMessageId = 1;

  async open(): Promise<StoredState> {
    return {
      sessions: [...this.#sessions.values()],
      retained: [...this.#retained.values()],
      nextMessageId: this.#nextMessageId,
    };
  }

  saveSession(record: SessionRecord): void {
    this.#sessions.set(record.clientId, record);
  }

  deleteSession(clientId: string): void {
    this.#sessions.delete(clientId);
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
