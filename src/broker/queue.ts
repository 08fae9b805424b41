import type { Delivery } from './inflight.js';

/** What to do when an offline queue is full. */
export type OverflowPolicy = 'drop-oldest' | 'drop-new';

/** Bounds of one session's queue. */
export interface QueueLimits {
  readonly maxMessages: number;
  readonly maxBytes: number;
  readonly policy: OverflowPolicy;
}

/**
 * A session's queue of deliveries waiting for the client (offline, or its window is full).
 * Bounded by count and bytes; `add` returns what had to be dropped so the caller can report it.
 */
export class MessageQueue {
  #items: Delivery[] = [];
  #head = 0;
  #bytes = 0;
  readonly #limits: QueueLimits;

  constructor(limits: QueueLimits) {
    this.#limits = limits;
  }

  /** Appends `delivery`; returns the deliveries dropped by the overflow policy (possibly itself). */
  add(delivery: Delivery): Delivery[] {
    const size = delivery.message.payload.length;
    const { maxMessages, maxBytes, policy } = this.#limits;
    const fits = () => this.size < maxMessages && this.#bytes + size <= maxBytes;
    if (fits()) {
      this.#push(delivery, size);
      return [];
    }
    if (policy === 'drop-new' || size > maxBytes || maxMessages === 0) return [delivery];
    const dropped: Delivery[] = [];
    while (!fits()) {
      const oldest = this.shift();
      if (!oldest) break;
      dropped.push(oldest);
    }
    this.#push(delivery, size);
    return dropped;
  }

  #push(delivery: Delivery, size: number): void {
    this.#items.push(delivery);
    this.#bytes += size;
  }

  /** Puts deliveries back at the head, in the given order, beyond the bounds (they were already accepted). */
  prepend(deliveries: Delivery[]): void {
    const rest = this.#items.slice(this.#head);
    this.#items = [...deliveries, ...rest];
    this.#head = 0;
    for (const d of deliveries) this.#bytes += d.message.payload.length;
  }

  /** The oldest delivery, without removing it. */
  peek(): Delivery | undefined {
    return this.#items[this.#head];
  }

  /** Removes and returns the oldest delivery. */
  shift(): Delivery | undefined {
    const item = this.#items[this.#head];
    if (!item) return undefined;
    this.#items[this.#head] = undefined as unknown as Delivery;
    this.#head++;
    this.#bytes -= item.message.payload.length;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  get size(): number {
    return this.#items.length - this.#head;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Removes everything, returning what was queued. */
  clear(): Delivery[] {
    const all = this.#items.slice(this.#head);
    this.#items = [];
    this.#head = 0;
    this.#bytes = 0;
    return all;
  }

  /** Queued deliveries, oldest first. */
  values(): Delivery[] {
    return this.#items.slice(this.#head);
  }
}
