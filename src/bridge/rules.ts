import type { QoS } from '../model.js';
import type { RuleConfig } from './config.js';

interface CompiledRule {
  readonly levels: readonly string[];
  readonly stream: string;
  /** Bit i set: the rule takes QoS i. */
  readonly qosMask: number;
}

/** Bridge rules: which streams a message goes to. Filters are matched as subscriptions are [MQTT-4.7]. */
export class Rules {
  readonly #rules: readonly CompiledRule[];

  constructor(rules: readonly RuleConfig[]) {
    this.#rules = rules.map((r) => ({ levels: r.filter.split('/'), stream: r.stream, qosMask: r.qos.reduce<number>((m, q) => m | (1 << q), 0) }));
  }

  /** Number of rules. */
  get size(): number {
    return this.#rules.length;
  }

  /** The streams a message on `topic` at `qos` goes to, each once, in rule order; undefined for none. */
  match(topic: string, qos: QoS): string[] | undefined {
    let out: string[] | undefined;
    let levels: string[] | undefined;
    for (const rule of this.#rules) {
      if ((rule.qosMask & (1 << qos)) === 0 || out?.includes(rule.stream)) continue;
      levels ??= topic.split('/');
      if (matches(rule.levels, levels)) (out ??= []).push(rule.stream);
    }
    return out;
  }
}

/** True when a filter's levels match a topic's levels. */
export function matches(filter: readonly string[], topic: readonly string[]): boolean {
  // [MQTT-4.7.2-1] a filter starting with a wildcard does not match a topic starting with '$'
  if ((filter[0] === '#' || filter[0] === '+') && topic[0]?.startsWith('$')) return false;
  for (let i = 0; i < filter.length; i++) {
    const f = filter[i];
    if (f === '#') return true; // [MQTT-4.7.1-2] '#' also matches the parent level
    if (i >= topic.length) return false;
    if (f !== '+' && f !== topic[i]) return false;
  }
  return filter.length === topic.length;
}
