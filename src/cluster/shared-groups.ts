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
}

/**
 * Shared subscriptions across nodes. A node with at least one member of `$share/{group}/{filter}`
 * joins one NATS queue group on the live subjects of `filter`, named after the group and the
 * filter; NATS gives each message to one queue subscriber, so one node gets it, and that node
 * hands it to one of its own members. Every QoS travels the live subjects (QoS 1/2 once
 * JetStream stored them), so the same path serves them all. The same queue group also listens on
 * a subject of the group's own (`<prefix>.share.<queue>`), where a node hands over a message whose
 * member's session ended unacknowledged and which has no other member there.
 */
export class SharedGroups {
  readonly #prefix: string;
  readonly #handOverPrefix: string;
  readonly #probePrefix: string;
  readonly #deliver: (msg: Msg, filter: string, group: string) => void;
  readonly #held = new Map<string, Held>();
  #nc: NatsConnection | undefined;

  /**
   * `prefix` is the live subject prefix (`<prefix>.live`), `handOverPrefix` that of the groups' own
   * subjects (`<prefix>.share`), `probePrefix` that of the probes it answers (share-probe.ts);
   * `deliver` gets each message NATS chose this node for.
   */
  constructor(prefix: string, handOverPrefix: string, deliver: (msg: Msg, filter: string, group: string) => void, probePrefix = `${handOverPrefix}-probe`) {
    this.#prefix = prefix;
    this.#handOverPrefix = handOverPrefix;
    this.#probePrefix = probePrefix;
    this.#deliver = deliver;
  }

  /** Number of shared subscriptions (group and filter) this node holds in NATS. */
  get size(): number {
    return this.#held.size;
  }

  /** Subscribes what was added before NATS was connected, and everything later at once. */
  start(nc: NatsConnection): void {
    this.#nc = nc;
    for (const held of this.#held.values()) held.subs ??= this.#listen(held);
  }

  /** A session of this node became a member. */
  add(filter: string, group: string): void {
    const key = keyOf(filter, group);
    const held = this.#held.get(key);
    if (held !== undefined) {
      held.members++;
      return;
    }
    const fresh: Held = { filter, group, members: 1, subs: undefined };
    if (this.#nc !== undefined) fresh.subs = this.#listen(fresh);
    this.#held.set(key, fresh);
  }

  /** A member of this node left; the last one takes the node out of the queue group. */
  delete(filter: string, group: string): void {
    const key = keyOf(filter, group);
    const held = this.#held.get(key);
    if (held === undefined || --held.members > 0) return;
    for (const sub of held.subs ?? []) sub.unsubscribe();
    this.#held.delete(key);
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
    const subs = subjects.map((subject) => nc.subscribe(subject, { queue, callback: (err, msg) => err === null && this.#deliver(msg, held.filter, held.group) }));
    // Probes (share-probe.ts): a node sending QoS 0 on a subject this group matches learns it must send them one by one
    for (const subject of filterSubjects(this.#probePrefix, held.filter)) subs.push(nc.subscribe(subject, { queue, callback: (err, msg) => err === null && msg.respond() }));
    return subs;
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
