import { topicMatches } from './replay.js';

/** What the directory reads of the nodes bucket's watch (node-watch.ts). */
export interface SharesSource {
  /** True once the watch delivered the bucket's records as they were when it began. */
  readonly initialized: boolean;
  /** Moves whenever a node's announced filters change. */
  readonly sharesGeneration: number;
  /** The shared-subscription filters announced by nodes whose heartbeat is recent. */
  sharedFilters(now: number): string[];
}

/** A node announcing more distinct filters (or bytes of them) than this announces EVERY_TOPIC instead. */
const MAX_FILTERS = 1000;
const MAX_FILTER_BYTES = 64 * 1024;
/** Not an MQTT filter (an empty filter is invalid): stands for "a shared group may match any topic". */
export const EVERY_TOPIC = '';
/** How long the set of filters is used before it is read again (nodes whose heartbeat lapsed drop out). */
const REREAD_MS = 1000;
/** Topics whose answer is remembered for the current set of filters. */
const TOPICS = 10_000;

/**
 * Whether QoS 0 messages of a topic may travel many to a NATS message. NATS hands each message of
 * a queue group to one member node, so a frame of many messages would give all of them to one node
 * of a shared subscription (`$share/…`), whose messages must be spread one by one. Every node
 * announces the filters of the shared groups it holds in its record in the nodes bucket (written at
 * once when they change, then with each heartbeat), and every node follows that bucket: a topic
 * that no announced filter matches is batchable, without asking anyone. Until a new group's
 * announcement reaches a sending node (milliseconds: one KV write and the watch), that node may
 * send a frame of several messages of a matching topic, which one member then gets whole: still
 * each message to exactly one member.
 */
export class ShareDirectory {
  #source: SharesSource | undefined;
  /** This node's own filters (it routes its own members' messages through NATS as well). */
  #local: readonly string[] = [];
  #filters: readonly string[] = [];
  #generation = -1;
  #readAt = 0;
  readonly #answers = new Map<string, boolean>();

  /** Follows the filters `source` reports. */
  start(source: SharesSource): void {
    this.#source = source;
    this.#generation = -1;
  }

  /**
   * This node's shared groups changed: returns what to announce (undefined: the same as before).
   * Over MAX_FILTERS or MAX_FILTER_BYTES the announcement is EVERY_TOPIC.
   */
  setLocal(filters: Iterable<string>): readonly string[] | undefined {
    const distinct = [...new Set(filters)].sort();
    const bytes = distinct.reduce((n, f) => n + f.length, 0);
    const announced = distinct.length > MAX_FILTERS || bytes > MAX_FILTER_BYTES ? [EVERY_TOPIC] : distinct;
    if (announced.length === this.#local.length && announced.every((f, i) => f === this.#local[i])) return undefined;
    this.#local = announced;
    this.#generation = -1;
    return announced;
  }

  /** Whether no shared group anywhere may match `topic` (false until the nodes bucket was read). */
  batchable(topic: string): boolean {
    const source = this.#source;
    if (source === undefined || !source.initialized) return false;
    const now = Date.now();
    if (source.sharesGeneration !== this.#generation || now - this.#readAt > REREAD_MS) {
      this.#generation = source.sharesGeneration;
      this.#readAt = now;
      const filters = [...new Set([...this.#local, ...source.sharedFilters(now)])].sort();
      if (filters.length !== this.#filters.length || filters.some((f, i) => f !== this.#filters[i])) this.#answers.clear();
      this.#filters = filters;
    }
    if (this.#filters.length === 0) return true;
    let answer = this.#answers.get(topic);
    if (answer === undefined) {
      answer = !this.#filters.some((f) => f === EVERY_TOPIC || topicMatches(f, topic));
      if (this.#answers.size >= TOPICS) this.#answers.clear();
      this.#answers.set(topic, answer);
    }
    return answer;
  }
}
