import type { Connection } from '../connection/connection.js';
import { BrokerError } from '../errors.js';
import type { Message, ProtocolVersion, QoS } from '../model.js';
import type { Router } from './router.js';
import type { Session } from './session.js';
import type { SessionRegistry } from './session-registry.js';
import { matchFilterOf, type Subscription } from './subscription.js';

/** A connected client, as the admin API shows it. */
export interface ClientDetails {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly address: string | undefined;
  readonly listener: string;
  readonly protocolVersion: ProtocolVersion;
  /** Keep alive in seconds as accepted (after any Server Keep Alive cap); 0 = none. */
  readonly keepalive: number;
  /** When the CONNACK was sent (ms since the epoch). */
  readonly connectedAt: number;
  readonly subscriptions: number;
  readonly inflight: number;
  readonly queued: number;
}

/** A session, connected or not, as the admin API shows it. */
export interface SessionDetails {
  readonly clientId: string;
  readonly connected: boolean;
  /** Session Expiry Interval in seconds (4294967295: never expires). */
  readonly expiryInterval: number;
  /** When the client went away (ms since the epoch), for an offline session. */
  readonly disconnectedAt: number | undefined;
  readonly subscriptions: number;
  readonly inflight: number;
  readonly queued: number;
  /** When a delayed will is due (ms since the epoch), if one is pending. */
  readonly willDueAt: number | undefined;
}

/** One subscription, as the admin API shows it: the session's own record (src/broker/subscription.ts). */
export type SubscriptionDetails = Subscription;

/** What narrows a subscription listing; every given field must hold. */
export interface SubscriptionQuery {
  readonly clientId?: string | undefined;
  /** The exact filter (as subscribed, `$share/` prefix included). */
  readonly filter?: string | undefined;
  /** A topic name: subscriptions whose filter matches it. */
  readonly matching?: string | undefined;
  readonly qos?: QoS | undefined;
  readonly group?: string | undefined;
}

/** True when topic name `topic` matches `filter` (MQTT 4.7), `$` topics not matched by leading wildcards [MQTT-4.7.2-1]. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '#' || f[0] === '+')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

/** What the admin operations read and act on, from the broker's core. */
export interface AdminParts {
  readonly connections: ReadonlyMap<string, Connection>;
  readonly sessions: SessionRegistry;
  readonly router: Router;
}

/**
 * The operator's view of the broker (the admin API and the dashboard use it): narrow reads of
 * clients, sessions, subscriptions and retained messages, and the few actions an operator takes
 * (kick, delete a session, clear a retained message). Reads are snapshots; nothing here is on the
 * hot path.
 */
export class BrokerAdmin {
  readonly #parts: AdminParts;

  constructor(parts: AdminParts) {
    this.#parts = parts;
  }

  /** Every connected client, ordered by client id. */
  clients(): ClientDetails[] {
    const out: ClientDetails[] = [];
    for (const conn of this.#parts.connections.values()) {
      const details = this.#details(conn);
      if (details) out.push(details);
    }
    return out.sort((a, b) => compare(a.clientId, b.clientId));
  }

  /** One connected client, or undefined. */
  client(clientId: string): ClientDetails | undefined {
    const conn = this.#parts.connections.get(clientId);
    return conn ? this.#details(conn) : undefined;
  }

  /** The subscriptions of a session (connected or not), or undefined when there is no session. */
  subscriptionsOf(clientId: string): SubscriptionDetails[] | undefined {
    return this.#parts.sessions.get(clientId)?.subscriptionList().map(subscriptionDetails);
  }

  #details(conn: Connection): ClientDetails | undefined {
    const client = conn.client;
    if (!client || conn.closed) return undefined;
    const { info, session } = client;
    return {
      clientId: info.id,
      username: info.username,
      address: info.remoteAddress,
      listener: info.listener,
      protocolVersion: info.protocolVersion,
      keepalive: client.keepalive,
      connectedAt: client.connectedAt,
      subscriptions: session.subscriptionCount,
      inflight: session.inflightCount,
      queued: session.queuedCount,
    };
  }

  /**
   * Disconnects a client: MQTT 5 clients get DISCONNECT 0x98 (Administrative action). Its session
   * stays as its expiry interval says, and its will is published, as for any close by the server
   * [MQTT-3.1.2-8]. False when no such client is connected.
   */
  kick(clientId: string): boolean {
    const conn = this.#parts.connections.get(clientId);
    if (!conn || conn.closed) return false;
    conn.abort(new BrokerError('ERR_ADMIN_DISCONNECT'));
    return true;
  }

  /** Every session, connected or not, ordered by client id. */
  sessions(): SessionDetails[] {
    const out: SessionDetails[] = [];
    for (const session of this.#parts.sessions.values()) out.push(sessionDetails(session));
    return out.sort((a, b) => compare(a.clientId, b.clientId));
  }

  /** One session, or undefined. */
  session(clientId: string): SessionDetails | undefined {
    const session = this.#parts.sessions.get(clientId);
    return session ? sessionDetails(session) : undefined;
  }

  /**
   * Ends a session now: a connected client is disconnected first (as `kick`), then the session,
   * its subscriptions and its queued messages are removed from memory and the store. A pending
   * will is published, as when a session ends [MQTT-3.1.3-9]. False when there is no session.
   */
  deleteSession(clientId: string): boolean {
    const session = this.#parts.sessions.get(clientId);
    if (!session) return false;
    this.kick(clientId); // a session that ends with its connection is gone after this
    this.#parts.sessions.end(session, 'deleted');
    return true;
  }

  /** Subscriptions of every session that satisfy `query`, ordered by client id then filter. */
  subscriptions(query: SubscriptionQuery = {}): SubscriptionDetails[] {
    const out: SubscriptionDetails[] = [];
    const sessions = query.clientId === undefined ? this.#parts.sessions.values() : [this.#parts.sessions.get(query.clientId)];
    for (const session of sessions) {
      if (!session) continue;
      for (const sub of session.subscriptionList()) if (selected(sub, query)) out.push(subscriptionDetails(sub));
    }
    return out.sort((a, b) => compare(a.clientId, b.clientId) || compare(a.filter, b.filter));
  }

  /** Retained messages whose topic matches `filter` (expired ones left out), ordered by topic. */
  retained(filter: string): Message[] {
    return this.#parts.router.retainedFor(filter).sort((a, b) => compare(a.topic, b.topic));
  }

  /** The retained message of one topic, or undefined. */
  retainedMessage(topic: string): Message | undefined {
    return this.#parts.router.retainedMessage(topic);
  }

  /** Clears the retained message of `topic` from memory and the store; false when there was none. */
  deleteRetained(topic: string): boolean {
    return this.#parts.router.clearRetained(topic);
  }
}

function selected(sub: Subscription, query: SubscriptionQuery): boolean {
  if (query.filter !== undefined && sub.filter !== query.filter) return false;
  if (query.qos !== undefined && sub.qos !== query.qos) return false;
  if (query.group !== undefined && sub.group !== query.group) return false;
  if (query.matching !== undefined && !topicMatches(matchFilterOf(sub), query.matching)) return false;
  return true;
}

function subscriptionDetails(sub: Subscription): SubscriptionDetails {
  const { clientId, filter, qos, noLocal, retainAsPublished, retainHandling, identifier, group } = sub;
  return { clientId, filter, qos, noLocal, retainAsPublished, retainHandling, identifier, group };
}

function sessionDetails(s: Session): SessionDetails {
  return {
    clientId: s.clientId,
    connected: s.connected,
    expiryInterval: s.expiryInterval,
    disconnectedAt: s.connected ? undefined : s.disconnectedAt,
    subscriptions: s.subscriptionCount,
    inflight: s.inflightCount,
    queued: s.queuedCount,
    willDueAt: s.willDueAt,
  };
}

/** Code-unit order, the same on every machine (localeCompare is not). */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
