import type { TopicAliasUse } from '../protocol/publish-encoder.js';

/**
 * Outbound topic aliases of one network connection (MQTT 5 section 3.3.2.3.4): topic → alias,
 * from 1 (never 0 [MQTT-3.3.2-8]) up to the client's Topic Alias Maximum [MQTT-3.3.2-11].
 * The first PUBLISH of a topic carries the topic and its alias, later ones a zero-length topic
 * and the alias. When every alias is in use, the least recently used one is reassigned (sent
 * again with its new topic). A new connection starts with none [MQTT-3.3.2-7].
 *
 * Choosing and committing are separate steps, so that a PUBLISH which is not sent (too large for
 * the client) does not leave the client believing in a mapping it never received.
 */
export class OutboundAliases {
  readonly maximum: number;
  /** Map order is recency order: the first entry is the least recently used. */
  readonly #aliases = new Map<string, number>();

  constructor(maximum: number) {
    this.maximum = maximum;
  }

  get size(): number {
    return this.#aliases.size;
  }

  /** The alias `topic` would be sent with; changes nothing until `commit`. */
  choose(topic: string): TopicAliasUse {
    const alias = this.#aliases.get(topic);
    if (alias !== undefined) return { alias, known: true };
    if (this.#aliases.size < this.maximum) return { alias: this.#aliases.size + 1, known: false };
    return { alias: this.#aliases.values().next().value as number, known: false };
  }

  /** Records that a PUBLISH with `choice` for `topic` was written: the mapping becomes the most recently used. */
  commit(topic: string, choice: TopicAliasUse): void {
    if (choice.known) {
      this.#aliases.delete(topic);
    } else if (this.#aliases.size >= this.maximum) {
      // The least recently used topic gives up its alias; the client now maps it to `topic`
      const victim = this.#aliases.keys().next().value as string;
      this.#aliases.delete(victim);
    }
    this.#aliases.set(topic, choice.alias);
  }

  /** The alias of `topic`, if the client has been told one. */
  get(topic: string): number | undefined {
    return this.#aliases.get(topic);
  }
}
