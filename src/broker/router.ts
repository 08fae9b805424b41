import type { Message, QoS } from '../model.js';
import { parseSharedFilter } from '../protocol/topic.js';
import type { Delivery } from './inflight.js';
import type { Store } from '../store/store.js';
import { isExpired } from './message.js';
import { isSystemTopic, RetainedIndex } from './retained.js';
import type { Session } from './session.js';
import type { SessionRegistry } from './session-registry.js';
import { grantedQos, identifiersOf, matchFilterOf, type Subscription } from './subscription.js';
import { TopicTree, type MatchVisitor, type SharedGroup, type SharedStrategy } from './topic-tree.js';

/** What one client gets from one message when several of its subscriptions match. */
interface Match {
  session: Session;
  qos: QoS;
  retainAsPublished: boolean;
  ids: number[] | undefined;
}

/** Hears which topic filters this node's sessions subscribe to (cluster mode: interest routing). */
export interface RouteInterest {
  /** A session subscribed to `filter` (without `$share/group/`; `group` for a shared subscription). */
  added(filter: string, group?: string): void;
  /** A session's subscription to `filter` (of `group`, if shared) ended. */
  removed(filter: string, group?: string): void;
  /**
   * True when the cluster picks the member of a shared group (one member cluster-wide): the router
   * then leaves shared groups out of `publish`, and the cluster hands a message to a group through
   * `publishShared` on the one node it chose.
   */
  readonly sharesGroups: boolean;
  /**
   * Gives a shared message to a member of `group` on another node (its member's session ended
   * here unacknowledged and no member is left on this node); false when it cannot.
   */
  handOver?(message: Message, filter: string, group: string): boolean;
}

/**
 * Routes messages to sessions. The router is the only writer of the topic tree and the
 * retained index.
 */
export class Router {
  readonly #tree = new TopicTree();
  readonly #retained = new RetainedIndex();
  readonly #sessions: SessionRegistry;
  readonly #store: Store;
  readonly #sharedStrategy: SharedStrategy;
  readonly #onExpired: (message: Message) => void;
  #interest: RouteInterest | undefined;

  /** `onExpired` hears of each retained message removed because its expiry passed. */
  constructor(sessions: SessionRegistry, store: Store, sharedStrategy: SharedStrategy = 'round-robin', onExpired: (message: Message) => void = () => {}) {
    this.#sessions = sessions;
    this.#store = store;
    this.#sharedStrategy = sharedStrategy;
    this.#onExpired = onExpired;
  }

  /** Reports every later subscription and unsubscription to `interest` (set once, while the core is built). */
  observeInterest(interest: RouteInterest): void {
    this.#interest = interest;
  }

  /** Number of retained messages, not counting the broker's own `$SYS` topics. */
  get retainedCount(): number {
    return this.#retained.size - this.#retained.systemSize;
  }

  /** Adds (or replaces) a session's subscription. Returns true when it did not exist before. */
  subscribe(session: Session, sub: Subscription): boolean {
    session.addSubscription(sub);
    const filter = matchFilterOf(sub);
    const isNew = this.#tree.add(filter, sub);
    if (isNew) this.#interest?.added(filter, sub.group);
    return isNew;
  }

  /** Removes a session's subscription. Returns true if it existed. */
  unsubscribe(session: Session, filter: string): boolean {
    const sub = session.getSubscription(filter);
    if (!sub) return false;
    session.deleteSubscription(filter);
    const match = matchFilterOf(sub);
    const existed = this.#tree.delete(match, session.clientId, sub.group);
    if (existed) this.#interest?.removed(match, sub.group);
    return existed;
  }

  /** Removes every subscription of a session that ended. */
  unsubscribeAll(session: Session): void {
    for (const sub of session.subscriptionList()) this.unsubscribe(session, sub.filter);
  }

  /** Updates the retained index for a message published with RETAIN=1 [MQTT-3.3.1-5]. */
  retain(message: Message): void {
    // $SYS is rewritten every interval: mirroring it would cost writes (and flash) for figures the next interval replaces
    const stored = !isSystemTopic(message.topic);
    if (message.payload.length === 0) {
      // [MQTT-3.3.1-10] [MQTT-3.3.1-11] an empty payload clears the topic and is not stored
      if (this.#retained.delete(message.topic) && stored) this.#store.deleteRetained(message.topic);
    } else {
      this.#retained.add(message);
      if (stored) this.#store.saveRetained(message);
    }
  }

  /** Restores a retained message at start. */
  restoreRetained(message: Message): void {
    this.#retained.add(message);
  }

  /** Retained messages matching `filter`; expired ones are removed on the way [MQTT-3.3.2-5]. */
  retainedFor(filter: string): Message[] {
    const now = Date.now();
    const live: Message[] = [];
    for (const message of this.#retained.match(filter)) {
      if (!isExpired(message, now)) live.push(message);
      else this.#expire(message);
    }
    return live;
  }

  /** The retained message of `topic`, unless it expired (then it is removed) [MQTT-3.3.2-5]. */
  retainedMessage(topic: string): Message | undefined {
    const message = this.#retained.get(topic);
    if (!message || !isExpired(message, Date.now())) return message;
    this.#expire(message);
    return undefined;
  }

  /** Clears the retained message of `topic` (an operator's action); false when there was none. */
  clearRetained(topic: string): boolean {
    if (!this.#retained.delete(topic)) return false;
    this.#store.deleteRetained(topic);
    return true;
  }

  /** Removes the retained messages whose expiry has passed (the broker calls this periodically). */
  sweepRetained(now: number): void {
    for (const message of this.#retained.expired(now)) this.#expire(message);
  }

  #expire(message: Message): void {
    if (!this.#retained.delete(message.topic)) return;
    if (!isSystemTopic(message.topic)) this.#store.deleteRetained(message.topic);
    this.#onExpired(message);
  }

  /**
   * Delivers `message` to every matching session. Returns the number of sessions it went to. In
   * cluster mode shared groups are left out (the cluster chooses one node, then `publishShared`),
   * except on `$SYS` topics, which stay on their node.
   */
  publish(message: Message): number {
    const shared = this.#interest?.sharesGroups !== true || isSystemTopic(message.topic);
    const matches = new Map<string, Match>();
    const groups: SharedGroup[] = [];
    const visitor: MatchVisitor = {
      subscription: (sub) => this.#collect(matches, message, sub),
      group: (group) => {
        if (shared) groups.push(group);
      },
    };
    this.#tree.match(message.topic, visitor);
    for (const m of matches.values()) {
      // [MQTT-3.3.1-9] RETAIN is 0 on normal delivery unless Retain As Published [MQTT-3.3.1-12]
      m.session.deliver(message, m.qos, m.retainAsPublished && message.retain, m.ids);
    }
    for (const group of groups) this.#deliverShared(group, message);
    return matches.size + groups.length;
  }

  #collect(matches: Map<string, Match>, message: Message, sub: Subscription): void {
    if (sub.noLocal && sub.clientId === message.origin) return; // [MQTT-3.8.3-3]
    const session = this.#sessions.get(sub.clientId);
    if (!session) return;
    const qos = grantedQos(message, sub);
    const existing = matches.get(sub.clientId);
    if (!existing) {
      matches.set(sub.clientId, { session, qos, retainAsPublished: sub.retainAsPublished, ids: identifiersOf(sub) });
      return;
    }
    // Overlapping subscriptions: one delivery at the highest QoS [MQTT-3.3.5-1] with every identifier
    // [MQTT-3.3.4-3], each once (filters of one SUBSCRIBE, or of several, may share an identifier)
    if (qos > existing.qos) existing.qos = qos;
    existing.retainAsPublished ||= sub.retainAsPublished;
    const id = sub.identifier;
    if (id !== undefined && !existing.ids?.includes(id)) (existing.ids ??= []).push(id);
  }

  /**
   * Cluster mode: this node was chosen for `message` in shared group `group` of `filter`; one of
   * its members gets it. False when the node has no member of the group (any more).
   */
  publishShared(message: Message, filter: string, group: string): boolean {
    const members = this.#tree.sharedGroup(filter, group);
    return members !== undefined && this.#deliverShared(members, message);
  }

  /** Cluster mode: whether shared group `group` of `filter` has a member connected to this node. */
  sharedConnected(filter: string, group: string): boolean {
    const members = this.#tree.sharedGroup(filter, group);
    if (members === undefined) return false;
    for (const sub of members.members.values()) if (this.#sessions.get(sub.clientId)?.connected === true) return true;
    return false;
  }

  /**
   * Gives a delivery of a shared subscription whose session ended to another member of its group
   * (MQTT 5 section 4.8.2). False when the group has no member left or the message expired.
   */
  reroute(delivery: Delivery): boolean {
    const shared = delivery.shared === undefined ? undefined : parseSharedFilter(delivery.shared);
    if (!shared || isExpired(delivery.message, Date.now())) return false;
    const group = this.#tree.sharedGroup(shared.filter, shared.group);
    if (group !== undefined && this.#deliverShared(group, delivery.message)) return true;
    return this.#interest?.handOver?.(delivery.message, shared.filter, shared.group) ?? false;
  }

  /**
   * One member gets the message: a connected one by the group's strategy, else one whose session
   * waits offline. A member that disconnects before acknowledging keeps the message while its
   * session lasts; when the session ends, `reroute` hands it to another member.
   */
  #deliverShared(group: SharedGroup, message: Message): boolean {
    const pick = group.pick((sub) => this.#sessions.get(sub.clientId)?.connected === true, this.#sharedStrategy);
    const session = pick && this.#sessions.get(pick.clientId);
    if (!pick || !session) return false;
    session.deliver(message, grantedQos(message, pick), pick.retainAsPublished && message.retain, identifiersOf(pick), pick.filter);
    return true;
  }
}
