import { createHash } from 'node:crypto';
import type { Msg, NatsConnection, Subscription as NatsSubscription } from 'nats';
import { filterSubjects } from './subjects.js';

/** How long a node waits for another node to take a shared message over before counting it lost. */
const HANDOVER_TIMEOUT_MS = 5000;

/** One shared subscription (`$share/{group}/{filter}`) as this node holds it in NATS. */
interface Held {
  readonly filter: string;
  readonly group: string;
  /** How many of this node's sessions are members. */
  members: number;
  subs: NatsSubscription[] | undefined;
  /** The group's online subject, listened to while one of this node's members is connected. */
  online: NatsSubscription | undefined;
}

/** Where each message NATS chose this node for came from. */
export type SharedArrival = 'live' | 'redirected';

/**
 * Shared subscriptions across nodes. A node with at least one member of `$share/{group}/{filter}`
 * joins one NATS queue group on the live subjects of `filter`, named after the group and the
 * filter; NATS gives each message to one queue subscriber, so one node gets it, and that node
 * hands it to one of its own members. Every QoS travels the live subjects (QoS 1/2 once
 * JetStream stored them), so the same path serves them all. The same queue group also listens on
 * a subject of the group's own (`<prefix>.share.<queue>`), where a node hands over a message whose
 * member's session ended unacknowledged and which has no other member there.
 *
 * A node keeps its place in the queue group while it has members, connected or not, so that no
 * message is lost when no member is connected anywhere. But only nodes with a *connected* member
 * listen on the group's online subject (`<prefix>.online.<queue>`, same queue group): a node whose
 * members are all offline `redirect`s what NATS gives it there, and keeps it for an offline member
 * only when no node answers (no responders: no member is connected anywhere).
 */
export class SharedGroups {
  readonly #prefix: string;
  readonly #handOverPrefix: string;
  readonly #onlinePrefix: string;
  readonly #deliver: (msg: Msg, filter: string, group: string, arrival: SharedArrival) => void;
  readonly #connected: (filter: string, group: string) => boolean;
  readonly #held = new Map<string, Held>();
  #nc: NatsConnection | undefined;
  #refreshing = false;

  /**
   * `prefix` is the live subject prefix (`<prefix>.live`), `handOverPrefix` that of the groups' own
   * subjects (`<prefix>.share`), `onlinePrefix` that of the online subjects; `deliver` gets each
   * message NATS chose this node
   * for; `connected` tells whether one of this node's members of a group is connected.
   */
  constructor(
    prefix: string,
    handOverPrefix: string,
    deliver: (msg: Msg, filter: string, group: string, arrival: SharedArrival) => void,
    onlinePrefix = `${handOverPrefix}-online`,
    connected: (filter: string, group: string) => boolean = () => true,
  ) {
    this.#prefix = prefix;
    this.#handOverPrefix = handOverPrefix;
    this.#onlinePrefix = onlinePrefix;
    this.#deliver = deliver;
    this.#connected = connected;
  }

  /** Number of shared subscriptions (group and filter) this node holds in NATS. */
  get size(): number {
    return this.#held.size;
  }

  /** The filters of the groups this node holds (each once). */
  filters(): string[] {
    return [...new Set([...this.#held.values()].map((h) => h.filter))];
  }

  /** Subscribes what was added before NATS was connected, and everything later at once. */
  start(nc: NatsConnection): void {
    this.#nc = nc;
    for (const held of this.#held.values()) held.subs ??= this.#listen(held);
    this.refresh();
  }

  /** A session of this node became a member. */
  add(filter: string, group: string): void {
    const key = keyOf(filter, group);
    const held = this.#held.get(key);
    if (held !== undefined) {
      held.members++;
      this.refresh();
      return;
    }
    const fresh: Held = { filter, group, members: 1, subs: undefined, online: undefined };
    if (this.#nc !== undefined) fresh.subs = this.#listen(fresh);
    this.#held.set(key, fresh);
    this.refresh();
  }

  /** A member of this node left; the last one takes the node out of the queue group. */
  delete(filter: string, group: string): void {
    const key = keyOf(filter, group);
    const held = this.#held.get(key);
    if (held === undefined) return;
    if (--held.members > 0) return this.refresh();
    for (const sub of held.subs ?? []) sub.unsubscribe();
    held.online?.unsubscribe();
    this.#held.delete(key);
  }

  /**
   * Members connected or disconnected here: at the end of this turn, the groups with a connected
   * member listen on their online subject and the others stop (one check per held group).
   */
  refresh(): void {
    if (this.#refreshing || this.#held.size === 0) return;
    this.#refreshing = true;
    setImmediate(() => {
      this.#refreshing = false;
      const nc = this.#nc;
      if (nc === undefined || nc.isClosed()) return;
      for (const held of this.#held.values()) {
        const connected = this.#connected(held.filter, held.group);
        if (connected && held.online === undefined) {
          const queue = queueName(held.group, held.filter);
          held.online = nc.subscribe(`${this.#onlinePrefix}.${queue}`, { queue, callback: (err, msg) => err === null && this.#deliver(msg, held.filter, held.group, 'redirected') });
        } else if (!connected && held.online !== undefined) {
          held.online.unsubscribe();
          held.online = undefined;
        }
      }
    });
  }

  /**
   * Offers `data` (an encoded message) to the nodes with a connected member of the group: resolves
   * true once one has given it to a member (committed), false when none answered (no responders:
   * no member is connected anywhere; or no answer in time, or NATS is not connected).
   */
  redirect(data: Uint8Array, filter: string, group: string): Promise<boolean> {
    if (this.#nc === undefined || this.#nc.isClosed()) return Promise.resolve(false);
    return this.#nc.request(`${this.#onlinePrefix}.${queueName(group, filter)}`, data, { timeout: HANDOVER_TIMEOUT_MS }).then(
      () => true,
      () => false,
    );
  }

  /**
   * Gives `data` (an encoded message) to one node with members of the group, through NATS; false
   * without a NATS connection. The receiving node answers once a member has it; `lost` is called
   * when no node answers (no responders: no node has a member; or none took it in time).
   */
  handOver(data: Uint8Array, filter: string, group: string, lost: () => void): boolean {
    if (this.#nc === undefined || this.#nc.isClosed()) return false;
    void this.offer(data, filter, group).then((taken) => taken || lost());
    return true;
  }

  /**
   * Offers `data` (an encoded message) to the group through NATS: resolves true once a node has
   * given it to one of its members, false when none did (no node has a member, none answered in
   * time, or NATS is not connected).
   */
  offer(data: Uint8Array, filter: string, group: string): Promise<boolean> {
    if (this.#nc === undefined || this.#nc.isClosed()) return Promise.resolve(false);
    return this.#nc.request(`${this.#handOverPrefix}.${queueName(group, filter)}`, data, { timeout: HANDOVER_TIMEOUT_MS }).then(
      () => true,
      () => false,
    );
  }

  #listen(held: Held): NatsSubscription[] {
    const nc = this.#nc as NatsConnection;
    const queue = queueName(held.group, held.filter);
    const subjects = [...filterSubjects(this.#prefix, held.filter), `${this.#handOverPrefix}.${queue}`];
    return subjects.map((subject) => nc.subscribe(subject, { queue, callback: (err, msg) => err === null && this.#deliver(msg, held.filter, held.group, 'live') }));
  }
}

function keyOf(filter: string, group: string): string {
  return `${group}\n${filter}`;
}

/**
 * The NATS queue group of `$share/{group}/{filter}`: the same on every node, distinct for each
 * (group, filter) pair as MQTT 5 section 4.8.2 asks, and a valid queue name whatever characters
 * the group and filter hold.
 */
export function queueName(group: string, filter: string): string {
  return `share_${createHash('sha256').update(`${group}\n${filter}`).digest('base64url').slice(0, 27)}`;
}
