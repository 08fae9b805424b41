import type { Delivery } from '../inflight.js';
import type { DeliveryPager } from '../session.js';
import type { Store } from '../../store/store.js';

/**
 * Reads queued deliveries back from a paging store, a page at a time, when a session's queue
 * runs low. The store is read here and at start only, never per message.
 */
export function createPager(store: Store, pageSize: number): DeliveryPager | undefined {
  const read = store.readDeliveries?.bind(store);
  if (!read) return undefined;
  return {
    pageSize,
    async load(clientId, afterSeq, limit): Promise<Delivery[]> {
      const { deliveries, messages } = await read(clientId, afterSeq, limit);
      const byId = new Map(messages.map((m) => [m.id, m]));
      const page: Delivery[] = [];
      for (const r of deliveries) {
        const message = byId.get(r.messageId);
        if (!message) throw new Error(`stored delivery ${clientId}/${r.seq} references missing message ${r.messageId}`);
        page.push({ message, qos: r.qos, retain: r.retain, subscriptionIds: r.subscriptionIds, packetId: 0, state: 'publish', seq: r.seq, shared: r.shared });
      }
      return page;
    },
  };
}
