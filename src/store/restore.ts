import type { BrokerContext } from '../handlers/context.js';
import { parseSharedFilter } from '../protocol/topic.js';
import type { SessionRecord, StoredState } from './store.js';

/**
 * Rebuilds memory from what the store returned at start: the one read of the store.
 * Sessions that were connected when the broker stopped count as disconnected now.
 */
export function restoreState(ctx: BrokerContext, state: StoredState): void {
  const { router, messageIds } = ctx;
  messageIds.observe(state.nextMessageId - 1);
  for (const message of state.retained) {
    messageIds.observe(message.id);
    router.restoreRetained(message);
  }
  const now = Date.now();
  const restored = state.sessions.filter((record) => restoreSession(ctx, record, now));
  restoreDeliveries(ctx, state);
  for (const { clientId, packetId } of state.inbound) {
    const session = ctx.sessions.get(clientId);
    if (session) session.restoreInbound(packetId);
    else ctx.store.deleteInbound({ clientId, packetId });
  }
  // Timers start once every session is back, so a will that is due at once reaches all of them.
  for (const record of restored) restartTimers(ctx, record, now);
}

/** Puts each session's queued and in-flight deliveries back in their order; removes orphans. */
function restoreDeliveries(ctx: BrokerContext, state: StoredState): void {
  const { sessions, store, journal, messageIds, logger } = ctx;
  const messages = new Map(state.messages.map((m) => [m.id, m]));
  const referenced = new Set<number>();
  const ordered = [...state.deliveries].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : a.seq - b.seq));
  for (const record of ordered) {
    const session = sessions.get(record.clientId);
    const message = messages.get(record.messageId);
    if (!session || !message) {
      if (session) logger.warn({ clientId: record.clientId, messageId: record.messageId }, 'stored delivery without its message');
      store.deleteDelivery(record.clientId, record.seq);
      continue;
    }
    messageIds.observe(message.id);
    referenced.add(message.id);
    journal.restoreReference(message.id);
    const { qos, retain, subscriptionIds, packetId, state: progress, seq } = record;
    session.restoreDelivery({ message, qos, retain, subscriptionIds, packetId, state: progress, seq });
  }
  for (const message of state.messages) {
    messageIds.observe(message.id);
    if (!referenced.has(message.id)) store.deleteMessage(message.id);
  }
}

function restoreSession(ctx: BrokerContext, record: SessionRecord, now: number): boolean {
  if (record.expiryInterval === 0) {
    ctx.store.deleteSession(record.clientId); // a clean session does not outlive its connection
    return false;
  }
  const session = ctx.sessions.create(record.clientId);
  session.expiryInterval = record.expiryInterval;
  session.will = record.will;
  session.disconnectedAt = record.disconnectedAt ?? now;
  for (const sub of record.subscriptions) {
    ctx.router.subscribe(session, sub, parseSharedFilter(sub.filter)?.filter ?? sub.filter);
  }
  return true;
}

function restartTimers(ctx: BrokerContext, record: SessionRecord, now: number): void {
  const session = ctx.sessions.get(record.clientId);
  if (!session) return;
  if (record.will && record.willDueAt !== undefined) {
    ctx.sessions.scheduleWill(session, Math.max(0, (record.willDueAt - now) / 1000));
  } else if (record.will && record.disconnectedAt === undefined) {
    // The client was connected when the broker died: its connection ended abnormally [MQTT-3.1.2-8]
    ctx.sessions.scheduleWill(session, Math.min(record.will.delayInterval, session.expiryInterval));
  }
  if (ctx.sessions.get(record.clientId) !== session) return; // ended by its will's session end
  const elapsed = Math.floor((now - (session.disconnectedAt ?? now)) / 1000);
  ctx.sessions.scheduleExpiry(session, session.expiryInterval - elapsed);
}
