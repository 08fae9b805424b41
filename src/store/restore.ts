import type { BrokerContext } from '../handlers/context.js';
import { parseSharedFilter } from '../protocol/topic.js';
import type { StoredState } from './store.js';

/**
 * Rebuilds memory from what the store returned at start: the one read of the store.
 * Sessions that were connected when the broker stopped count as disconnected now.
 */
export function restoreState(ctx: BrokerContext, state: StoredState): void {
  const { sessions, router, messageIds, store } = ctx;
  messageIds.observe(state.nextMessageId - 1);
  for (const message of state.retained) {
    messageIds.observe(message.id);
    router.restoreRetained(message);
  }
  const now = Date.now();
  for (const record of state.sessions) {
    if (record.expiryInterval === 0) {
      store.deleteSession(record.clientId); // a clean session does not outlive its connection
      continue;
    }
    const session = sessions.create(record.clientId);
    session.expiryInterval = record.expiryInterval;
    session.will = record.will;
    session.disconnectedAt = record.disconnectedAt ?? now;
    for (const sub of record.subscriptions) {
      router.subscribe(session, sub, parseSharedFilter(sub.filter)?.filter ?? sub.filter);
    }
    const elapsed = Math.floor((now - session.disconnectedAt) / 1000);
    sessions.scheduleExpiry(session, session.expiryInterval - elapsed);
  }
}
