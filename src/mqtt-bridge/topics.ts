import type { QoS } from '../model.js';
import type { BridgeTopic } from './config.js';

/** A topic mapped to the other side, with the rule's QoS. */
export interface Mapped {
  readonly topic: string;
  readonly qos: QoS;
}

/**
 * A bridge's topic rules with Mosquitto's prefix semantics: a rule `filter` with `localPrefix` L and
 * `remotePrefix` R subscribes to L+filter locally (out) and R+filter remotely (in); a forwarded
 * topic loses the prefix of the side it came from and gains the other's. With an empty filter the
 * prefixes are whole topics: L on one side is R on the other.
 */
export class TopicMap {
  readonly #out: readonly BridgeTopic[];
  readonly #in: readonly BridgeTopic[];
  /** Recent mappings, so the common case (few topics, many messages) matches no filter per message. */
  readonly #remote = new Map<string, Mapped | undefined>();
  readonly #local = new Map<string, Mapped | undefined>();

  constructor(topics: readonly BridgeTopic[]) {
    this.#out = topics.filter((t) => t.direction !== 'in');
    this.#in = topics.filter((t) => t.direction !== 'out');
  }

  /** Rules forwarding local → remote. */
  get outbound(): readonly BridgeTopic[] {
    return this.#out;
  }

  /** Rules forwarding remote → local. */
  get inbound(): readonly BridgeTopic[] {
    return this.#in;
  }

  /** The remote topic of a local message (first outbound rule that matches), or undefined. */
  toRemote(topic: string): Mapped | undefined {
    return cached(this.#remote, topic, () => {
      for (const rule of this.#out) {
        if (topicMatches(rule.localFilter, topic)) return { topic: rule.remotePrefix + topic.slice(rule.localPrefix.length), qos: rule.qos };
      }
      return undefined;
    });
  }

  /** The local topic of a message from the remote (first inbound rule that matches), or undefined. */
  toLocal(topic: string): Mapped | undefined {
    return cached(this.#local, topic, () => {
      for (const rule of this.#in) {
        if (topicMatches(rule.remoteFilter, topic)) return { topic: rule.localPrefix + topic.slice(rule.remotePrefix.length), qos: rule.qos };
      }
      return undefined;
    });
  }
}

/** Most topics a TopicMap remembers per direction; past it the memory starts over. */
const CACHE_LIMIT = 4096;

function cached(cache: Map<string, Mapped | undefined>, topic: string, map: () => Mapped | undefined): Mapped | undefined {
  const hit = cache.get(topic);
  if (hit !== undefined || cache.has(topic)) return hit;
  if (cache.size >= CACHE_LIMIT) cache.clear();
  const mapped = map();
  cache.set(topic, mapped);
  return mapped;
}

/** True when topic name `topic` matches filter `filter` [MQTT-4.7]; `#` and `+` do not match a leading `$` level [MQTT-4.7.2-1]. */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true;
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '#' || f[0] === '+')) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true; // also matches the parent level ("a/#" matches "a")
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}
