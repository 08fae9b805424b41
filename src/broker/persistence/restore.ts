import { isSystemTopic } from '../retained.js';
import type { Logger } from 'pino';
import type { SessionRecord, Store, StoredState } from '../../store/store.js';
import type { MessageIds } from '../message.js';
import type { Router } from '../router.js';
import type { Session } from '../session.js';
import type { SessionRegistry } from '../session-registry.js';
import type { Wills } from '../wills.js';
import type { Journal } from './journal.js';

/** What restoring needs from the broker. */
export interface RestoreHost {
  readonly logger: Logger;
  readonly store: Store;
  readonly journal: Journal;
  readonly router: Router;
  readonly sessions: SessionRegistry;
  readonly messageIds: MessageIds;
  /** Restores each session's will, and publishes those of sessions that ended with the broker. */
  readonly wills: Wills;
}

/**
 * Rebuilds memory from what the store returned at start: the one full read of the store.
 * Sessions that were connected when the broker stopped count as disconnected now. Sessions
 * that do not outlive their connection (expiry 0), and deliveries left without a session, are
 * ended through the normal path, so their messages are reported and removed from the store.
 */
export function restoreState(ctx: RestoreHost, state: StoredState): void {
  const { router, messageIds, sessions } = ctx;
  messageIds.observe(state.nextMessageId - 1);
  for (const message of state.retained) {
    messageIds.observe(message.id);
    // Stores written before $SYS was kept out of them still hold it: drop it, the next interval rewrites it
    if (isSystemTopic(message.topic)) ctx.store.deleteRetained(message.topic);
    else router.restoreRetained(message);
  }
  const now = Date.now();
  for (const record of state.sessions) restoreSession(ctx, record, now);
  const orphan = (clientId: string): Session => sessions.get(clientId) ?? sessions.create(clientId);
  // Frontiers first: a restored delivery within its session's frontier goes back in flight
  for (const [clientId, seq] of state.frontiers) sessions.get(clientId)?.restoreFrontier(seq);
  restoreReferences(ctx, state);
  if (!ctx.store.durable) forgetSnapshot(ctx, state);
  restoreDeliveries(ctx, state, orphan);
  for (const backlog of state.backlogs) orphan(backlog.clientId).restoreBacklog(backlog);
  for (const { clientId, packetId, reasonCode } of state.inbound) orphan(clientId).restoreInbound(packetId, reasonCode ?? 0);
  const records = new Map(state.sessions.map((r) => [r.clientId, r]));
  for (const session of [...sessions.values()]) {
    const record = records.get(session.clientId);
    if (record && record.expiryInterval > 0) {
      restartTimers(ctx, session, record, now);
      continue;
    }
    // A clean session connected when the broker died: its connection ended abnormally [MQTT-3.1.2-8]
    if (record?.will && record.disconnectedAt === undefined) ctx.wills.publish(record.clientId, record.will);
    sessions.end(session, 'connection-closed');
  }
}

function restoreSession(ctx: RestoreHost, record: SessionRecord, now: number): void {
  const session = ctx.sessions.create(record.clientId);
  session.expireAfter(record.expiryInterval);
  ctx.wills.restore(session, record);
  session.restoreDisconnectedAt(record.disconnectedAt ?? now);
  for (const sub of record.subscriptions) {
    ctx.router.subscribe(session, sub);
  }
}

/** A store that is not durable holds a snapshot taken at close; memory owns it now, until the next close. */
function forgetSnapshot(ctx: RestoreHost, state: StoredState): void {
  const { store } = ctx;
  for (const d of state.deliveries) store.deleteDelivery(d.clientId, d.seq);
  for (const m of state.messages) store.deleteMessage(m.id);
  for (const i of state.inbound) store.deleteInbound(i);
}

/** Every stored delivery references a message, those left on disk for paging included. */
function restoreReferences(ctx: RestoreHost, state: StoredState): void {
  const { journal, messageIds, store } = ctx;
  for (const [id, count] of state.references) {
    messageIds.observe(id);
    for (let i = 0; i < count; i++) journal.restoreReference(id);
  }
  for (const message of state.messages) {
    messageIds.observe(message.id);
    if (!state.references.has(message.id)) store.deleteMessage(message.id);
  }
}

/** Puts each session's in-flight and first-page deliveries back in their order. */
function restoreDeliveries(ctx: RestoreHost, state: StoredState, sessionOf: (clientId: string) => Session): void {
  const messages = new Map(state.messages.map((m) => [m.id, m]));
  const ordered = [...state.deliveries].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : a.seq - b.seq));
  for (const record of ordered) {
    const message = messages.get(record.messageId);
    if (!message) {
      ctx.logger.warn({ clientId: record.clientId, messageId: record.messageId }, 'stored delivery without its message');
      ctx.store.deleteDelivery(record.clientId, record.seq);
      continue;
    }
    const { qos, retain, subscriptionIds, packetId, state: progress, seq, shared } = record;
    sessionOf(record.clientId).restoreDelivery({ message, qos, retain, subscriptionIds, packetId, state: progress, seq, shared });
  }
}

function restartTimers(ctx: RestoreHost, session: Session, record: SessionRecord, now: number): void {
  if (record.will && record.willDueAt !== undefined) {
    ctx.sessions.scheduleWill(session, Math.max(0, (record.willDueAt - now) / 1000));
  } else if (record.will && record.disconnectedAt === undefined) {
    // The client was connected when the broker died: its connection ended abnormally [MQTT-3.1.2-8]
    ctx.sessions.scheduleWill(session, Math.min(record.will.delayInterval, session.expiryInterval));
  }
  if (ctx.sessions.get(record.clientId) !== session) return; // ended by its will's session end
  const elapsed = (now - (session.disconnectedAt ?? now)) / 1000;
  ctx.sessions.scheduleExpiry(session, session.expiryInterval - elapsed);
}
