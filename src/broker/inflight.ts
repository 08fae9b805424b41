import type { Message, QoS } from '../model.js';

/** One message on its way to one client: the per-delivery facts beside the shared Message. */
export interface Delivery {
  readonly message: Message;
  readonly qos: QoS;
  /** RETAIN flag as sent to this client. */
  readonly retain: boolean;
  readonly subscriptionIds: readonly number[] | undefined;
  packetId: number;
  /** QoS 2 progress: waiting for PUBREC ('publish') or for PUBCOMP ('pubrel'). */
  state: 'publish' | 'pubrel';
  /** Order within the session for QoS 1/2 (the store key); 0 for QoS 0. */
  readonly seq: number;
  /** The `$share/{group}/{filter}` subscription it came through, so it can go to another member when this session ends. */
  readonly shared?: string | undefined;
}

const MAX_PACKET_ID = 0xffff;
const NO_ENTRIES: ReadonlyMap<number, Delivery> = new Map();

/**
 * The packet id a QoS 1/2 delivery uses unless it is taken: derived from the delivery's seq, so a
 * stored delivery record already names the packet id it will be sent with, and moving it from the
 * queue into the in-flight window needs no new write before it is sent (see Session).
 */
export function derivedPacketId(seq: number): number {
  return ((seq - 1) % MAX_PACKET_ID) + 1;
}

/**
 * A session's outbound in-flight window: QoS 1/2 deliveries awaiting acknowledgement,
 * in send order, keyed by packet id. Allocation and lookup are O(1) amortized.
 */
export class Inflight {
  /** Created with the first delivery: most idle sessions never have one. */
  #entries: Map<number, Delivery> | undefined;
  #nextId = 1;

  /**
   * Assigns `delivery` its derived packet id, or another free one when that one is still in use
   * (a delivery 65,535 seqs older is unacknowledged), and records it.
   */
  add(delivery: Delivery): number {
    const entries = (this.#entries ??= new Map());
    if (entries.size >= MAX_PACKET_ID) throw new RangeError('no free packet identifier');
    const derived = delivery.seq > 0 ? derivedPacketId(delivery.seq) : 0;
    if (derived > 0 && !entries.has(derived)) {
      delivery.packetId = derived;
      entries.set(derived, delivery);
      return derived;
    }
    let id = this.#nextId;
    while (entries.has(id)) id = id === MAX_PACKET_ID ? 1 : id + 1;
    this.#nextId = id === MAX_PACKET_ID ? 1 : id + 1;
    delivery.packetId = id;
    entries.set(id, delivery);
    return id;
  }

  /** Re-records a delivery that already has its packet id (restore). */
  restore(delivery: Delivery): void {
    (this.#entries ??= new Map()).set(delivery.packetId, delivery);
  }

  get(packetId: number): Delivery | undefined {
    return this.#entries?.get(packetId);
  }

  delete(packetId: number): boolean {
    return this.#entries?.delete(packetId) ?? false;
  }

  get size(): number {
    return this.#entries?.size ?? 0;
  }

  /** Deliveries in their original send order [MQTT-4.4.0-1]. */
  values(): IterableIterator<Delivery> {
    return (this.#entries ?? NO_ENTRIES).values();
  }

  /** Removes everything, returning what was in flight. */
  clear(): Delivery[] {
    const all = [...(this.#entries?.values() ?? [])];
    this.#entries = undefined;
    return all;
  }
}
