import type { Subscription } from './subscription.js';
import { pruneBranch, trieBranch } from './trie.js';

/** How a shared group chooses the member that gets a message. */
export type SharedStrategy = 'round-robin' | 'random' | 'sticky';

/** Subscribers of one `$share/{group}/{filter}`; each message goes to one member. */
export class SharedGroup {
  readonly name: string;
  readonly members = new Map<string, Subscription>();
  #cursor = 0;
  /** Client id of the member the 'sticky' strategy keeps sending to. */
  #stuck: string | undefined;

  constructor(name: string) {
    this.name = name;
  }

  /**
   * Picks a member accepted by `usable` (a connected one) using `strategy`; when none is, the next
   * member in turn (any member with 'random'), so the message waits in that member's session.
   * `random` returns a number in [0, 1); tests pass a seeded one.
   */
  pick(usable: (sub: Subscription) => boolean, strategy: SharedStrategy = 'round-robin', random = Math.random): Subscription | undefined {
    if (strategy === 'sticky' && this.#stuck !== undefined) {
      const current = this.members.get(this.#stuck);
      if (current && usable(current)) return current;
    }
    const members = [...this.members.values()];
    const n = members.length;
    if (n === 0) return undefined;
    if (strategy === 'random') return this.#pickRandom(members, usable, random);
    for (let i = 0; i < n; i++) {
      const index = (this.#cursor + i) % n;
      const sub = members[index] as Subscription;
      if (usable(sub)) {
        this.#cursor = index + 1;
        if (strategy === 'sticky') this.#stuck = sub.clientId;
        return sub;
      }
    }
    return members[this.#cursor++ % n];
  }

  /** Every usable member is equally likely; with none usable, any member is. */
  #pickRandom(members: Subscription[], usable: (sub: Subscription) => boolean, random: () => number): Subscription | undefined {
    let count = 0;
    for (const sub of members) if (usable(sub)) count++;
    if (count === 0) return members[Math.floor(random() * members.length)];
    let k = Math.floor(random() * count);
    for (const sub of members) {
      if (usable(sub) && k-- === 0) return sub;
    }
    return undefined;
  }
}

class Node {
  readonly children = new Map<string, Node>();
  subs: Map<string, Subscription> | null = null;
  shared: Map<string, SharedGroup> | null = null;

  get empty(): boolean {
    return this.children.size === 0 && (this.subs?.size ?? 0) === 0 && (this.shared?.size ?? 0) === 0;
  }
}

/** Receives the matches of one topic. */
export interface MatchVisitor {
  subscription(sub: Subscription): void;
  group(group: SharedGroup): void;
}

/**
 * The subscription trie: one node per filter level. Matching a topic costs time in
 * proportion to its depth (times the wildcard branches present), not to the number of subscriptions.
 */
export class TopicTree {
  readonly #root = new Node();
  #size = 0;
  /**
   * The levels of the last topic matched. Publishers send to the same topic again and again, and
   * at 1000 msg/s, with cold caches, one split of a three-level topic takes about 1.6 µs; the
   * decoder hands over the same string for a repeated topic, so the check is usually a pointer
   * comparison.
   */
  #lastTopic: string | undefined;
  #lastLevels: readonly string[] = [];

  /** Adds or replaces a subscription (keyed by client id and filter). Returns true when it is new. */
  add(filter: string, sub: Subscription): boolean {
    let node = this.#root;
    for (const level of filter.split('/')) {
      let child = node.children.get(level);
      if (!child) {
        child = new Node();
        node.children.set(level, child);
      }
      node = child;
    }
    if (sub.group !== undefined) return this.#addShared(node, sub);
    node.subs ??= new Map();
    const isNew = !node.subs.has(sub.clientId);
    node.subs.set(sub.clientId, sub);
    if (isNew) this.#size++;
    return isNew;
  }

  #addShared(node: Node, sub: Subscription): boolean {
    const groupName = sub.group as string;
    node.shared ??= new Map();
    let group = node.shared.get(groupName);
    if (!group) {
      group = new SharedGroup(groupName);
      node.shared.set(groupName, group);
    }
    const isNew = !group.members.has(sub.clientId);
    group.members.set(sub.clientId, sub);
    if (isNew) this.#size++;
    return isNew;
  }

  /** The shared group `group` of `filter`, if it has members. */
  sharedGroup(filter: string, group: string): SharedGroup | undefined {
    let node: Node | undefined = this.#root;
    for (const level of filter.split('/')) {
      node = node.children.get(level);
      if (!node) return undefined;
    }
    return node.shared?.get(group);
  }

  /** Removes a client's subscription to `filter` (group given for shared ones). Returns true if it existed. */
  delete(filter: string, clientId: string, group?: string): boolean {
    const levels = filter.split('/');
    const branch = trieBranch(this.#root, levels);
    if (!branch) return false;
    const node = branch[levels.length] as Node;
    let removed: boolean;
    if (group === undefined) {
      removed = node.subs?.delete(clientId) ?? false;
    } else {
      const shared = node.shared?.get(group);
      removed = shared?.members.delete(clientId) ?? false;
      if (shared && shared.members.size === 0) node.shared?.delete(group);
    }
    if (removed) this.#size--;
    pruneBranch(branch, levels, (n) => n.empty);
    return removed;
  }

  /** Number of subscriptions held (shared members included). */
  get size(): number {
    return this.#size;
  }

  /** Reports every subscription and shared group whose filter matches `topic`. */
  match(topic: string, visitor: MatchVisitor): void {
    if (topic !== this.#lastTopic) {
      this.#lastLevels = topic.split('/');
      this.#lastTopic = topic;
    }
    const levels = this.#lastLevels;
    // [MQTT-4.7.2-1] a leading wildcard does not match a topic starting with '$'
    this.#walk(this.#root, levels, 0, visitor, topic.charCodeAt(0) === 36);
  }

  #walk(node: Node, levels: readonly string[], depth: number, visitor: MatchVisitor, dollar: boolean): void {
    const wildcardsAllowed = !(dollar && depth === 0);
    if (wildcardsAllowed) {
      // '#' also matches the parent level: "a/#" matches "a" [MQTT-4.7.1-2]
      const hash = node.children.get('#');
      if (hash) this.#report(hash, visitor);
    }
    if (depth === levels.length) {
      this.#report(node, visitor);
      return;
    }
    const exact = node.children.get(levels[depth] as string);
    if (exact) this.#walk(exact, levels, depth + 1, visitor, dollar);
    if (wildcardsAllowed) {
      const plus = node.children.get('+');
      if (plus) this.#walk(plus, levels, depth + 1, visitor, dollar);
    }
  }

  #report(node: Node, visitor: MatchVisitor): void {
    if (node.subs) for (const sub of node.subs.values()) visitor.subscription(sub);
    if (node.shared) for (const group of node.shared.values()) visitor.group(group);
  }
}
