import type { DeliveryRecord } from './store.js';

/** How many deliveries reference each message id. */
export function countReferences(deliveries: Iterable<DeliveryRecord>): Map<number, number> {
  const refs = new Map<number, number>();
  for (const d of deliveries) refs.set(d.messageId, (refs.get(d.messageId) ?? 0) + 1);
  return refs;
}
