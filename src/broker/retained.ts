import type { Message } from '../model.js';
import { pruneBranch, trieBranch } from './trie.js';

/** The broker's own statistics topics: rewritten every sysInterval, never stored, not counted as retained. */
export function isSystemTopic(topic: string): boolean {
  return topic.startsWith('$SYS/');
}

class Node {
  readonly children = new Map<string, Node>();
  message: Message | undefined;
}

function isEmpty(node: Node): boolean {
  return node.message === undefined && node.children.size === 0;
}

/**
 * Retained messages indexed by topic level, so that the matches for a filter are found by
 * walking the filter, not by scanning every retained topic.
 */
export class RetainedIndex {
  readonly #root = new Node();
  #size = 0;
  /** Of those, the broker's own `$SYS/...` topics. */
  #system = 0;
  /** Retained messages that have an expiry, by topic, so expired ones are found without a full walk. */
  readonly #expiring = new Map<string, Message>();

  /** Stores `message` as the retained message of its topic. */
  add(message: Message): void {
    let node = this.#root;
    for (const level of message.topic.split('/')) {
      let child = node.children.get(level);
      if (!child) {
        child = new Node();
        node.children.set(level, child);
      }
      node = child;
    }
    if (!node.message) {
      this.#size++;
      if (isSystemTopic(message.topic)) this.#system++;
    }
    node.message = message;
    if (message.expiresAt !== undefined) this.#expiring.set(message.topic, message);
    else this.#expiring.delete(message.topic);
  }

  /** Retained messages whose expiry has passed at `now` [MQTT-3.3.2-5]. */
  expired(now: number): Message[] {
    const out: Message[] = [];
    for (const message of this.#expiring.values()) if ((message.expiresAt as number) <= now) out.push(message);
    return out;
  }

  /** The retained message of `topic`, if any. */
  get(topic: string): Message | undefined {
    let node: Node | undefined = this.#root;
    for (const level of topic.split('/')) {
      node = node.children.get(level);
      if (!node) return undefined;
    }
    return node.message;
  }

  /** Clears the retained message of `topic` [MQTT-3.3.1-10]. Returns true if there was one. */
  delete(topic: string): boolean {
    const levels = topic.split('/');
    const branch = trieBranch(this.#root, levels);
    const node = branch?.[levels.length];
    if (!branch || !node?.message) return false;
    node.message = undefined;
    this.#size--;
    if (isSystemTopic(topic)) this.#system--;
    this.#expiring.delete(topic);
    pruneBranch(branch, levels, isEmpty);
    return true;
  }

  /** Number of retained messages. */
  get size(): number {
    return this.#size;
  }

  /** Number of retained `$SYS/...` messages (the broker's own statistics), included in `size`. */
  get systemSize(): number {
    return this.#system;
  }

  /** Every retained message whose topic matches `filter`. */
  match(filter: string): Message[] {
    const out: Message[] = [];
    this.#walk(this.#root, filter.split('/'), 0, out);
    return out;
  }

  /** Every retained message, for a store snapshot. */
  all(): Message[] {
    const out: Message[] = [];
    this.#collect(this.#root, out, false);
    return out;
  }

  #walk(node: Node, levels: string[], depth: number, out: Message[]): void {
    if (depth === levels.length) {
      if (node.message) out.push(node.message);
      return;
    }
    const level = levels[depth] as string;
    // [MQTT-4.7.2-1] wildcards at the first level do not match '$' topics
    const skipDollar = depth === 0;
    if (level === '#') {
      if (node.message && depth > 0) out.push(node.message); // "a/#" matches "a"
      for (const [name, child] of node.children) {
        if (skipDollar && name.startsWith('$')) continue;
        this.#collect(child, out, true);
      }
    } else if (level === '+') {
      for (const [name, child] of node.children) {
        if (skipDollar && name.startsWith('$')) continue;
        this.#walk(child, levels, depth + 1, out);
      }
    } else {
      const child = node.children.get(level);
      if (child) this.#walk(child, levels, depth + 1, out);
    }
  }

  #collect(node: Node, out: Message[], includeSelf: boolean): void {
    if (includeSelf && node.message) out.push(node.message);
    for (const child of node.children.values()) this.#collect(child, out, true);
  }
}
