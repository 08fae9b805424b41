import type { BrokerContext } from '../handlers/context.js';
import type { Message, QoS } from '../model.js';
import type { Session } from '../broker/session.js';
import { grantedQos, matchFilterOf, type Subscription } from '../broker/subscription.js';
import { decodeMessage } from '../store/records.js';
import type { ClusterEngine } from './sessions.js';
import type { ClusterStore } from './session-store.js';
import { readStored } from './stream-reader.js';
import { filterSubjects } from './subjects.js';

/** How long replaying a session's backlog may take before the CONNECT is refused. */
const REPLAY_DEADLINE_MS = 30_000;

/**
 * Brings a resumed session's offline backlog back from the MSGS stream, in stream order, before
 * any live message reaches it (so the backlog is never interleaved with live messages of the same
 * topic). The node listens on the session's subjects first, reads the stream's last sequence L,
 * replays (floor, L] with ordered (ephemeral) consumers, one per subject of the session's filters,
 * merged in stream order (stream-reader.ts), then, in one synchronous step, adds
 * the session's subscriptions to the router and delivers the live messages that arrived meanwhile
 * with a sequence above L. Shared subscriptions are not replayed: their messages went to another
 * member of the group.
 */
export class ClusterReplay {
  readonly #engine: ClusterEngine;
  readonly #ctx: BrokerContext;
  readonly #store: ClusterStore;

  constructor(engine: ClusterEngine, ctx: BrokerContext, store: ClusterStore) {
    this.#engine = engine;
    this.#ctx = ctx;
    this.#store = store;
  }

  async run(session: Session, subscriptions: readonly Subscription[], floor: number): Promise<void> {
    const engine = this.#engine;
    const own = subscriptions.filter((s) => s.group === undefined);
    const filters = [...new Set(own.map(matchFilterOf))];
    const held: Message[] = [];
    const stop = engine.onStored((m) => held.push(m));
    for (const filter of filters) engine.added(filter);
    let last = floor;
    try {
      await engine.nc.flush();
      last = (await engine.jsm.streams.info(engine.messages)).state.last_seq;
      if (own.length > 0 && last > floor) {
        const abort = new AbortController();
        await withDeadline(this.#replay(session, own, floor, last, abort.signal), REPLAY_DEADLINE_MS, abort);
      }
    } finally {
      stop();
      // A session evicted meanwhile (taken over by another node) is subscribed no more
      if (this.#ctx.sessions.get(session.clientId) === session) for (const sub of subscriptions) this.#ctx.router.subscribe(session, sub);
      for (const filter of filters) engine.removed(filter);
    }
    if (this.#ctx.sessions.get(session.clientId) !== session) return;
    for (const message of held) if (message.id > last) deliver(session, own, message);
    this.#store.resumed(session.clientId, undefined, last);
  }

  /** Stops at `last`, or once `signal` aborts (the deadline passed) or the session is no longer the registry's (evicted). */
  async #replay(session: Session, subscriptions: readonly Subscription[], floor: number, last: number, signal: AbortSignal): Promise<void> {
    // Only the session's subjects are read, each with an ordered consumer, merged in stream order (stream-reader.ts)
    const subjects = subscriptions.flatMap((s) => filterSubjects(`${this.#engine.prefix}.msgs`, matchFilterOf(s)));
    for await (const m of readStored(this.#engine, subjects, floor + 1, last, signal)) {
      if (this.#ctx.sessions.get(session.clientId) !== session) break;
      deliver(session, subscriptions, { ...decodeMessage(m.data), id: m.seq });
      this.#store.resumed(session.clientId, m.seq);
    }
  }
}

/** Delivers `message` to `session` as the router would: once, at the highest granted QoS, with every identifier. */
function deliver(session: Session, subscriptions: readonly Subscription[], message: Message): void {
  const delivery = deliveryOf(subscriptions, message);
  if (delivery !== undefined) session.deliver(message, delivery.qos, delivery.retain, delivery.ids);
}

/** How `message` goes to a session with `subscriptions` (not shared ones), as the router would deliver it; undefined when none matches. */
export function deliveryOf(subscriptions: readonly Subscription[], message: Message): { qos: QoS; retain: boolean; ids: number[] | undefined } | undefined {
  let qos: QoS | undefined;
  let retainAsPublished = false;
  let ids: number[] | undefined;
  for (const sub of subscriptions) {
    if (!topicMatches(matchFilterOf(sub), message.topic)) continue;
    if (sub.noLocal && sub.clientId === message.origin) continue; // [MQTT-3.8.3-3]
    const granted = grantedQos(message, sub);
    if (qos === undefined || granted > qos) qos = granted; // [MQTT-3.3.5-1]
    retainAsPublished ||= sub.retainAsPublished;
    if (sub.identifier !== undefined && !ids?.includes(sub.identifier)) (ids ??= []).push(sub.identifier);
  }
  return qos === undefined ? undefined : { qos, retain: retainAsPublished && message.retain, ids };
}

/** MQTT topic matching [MQTT-4.7]: `+` one level, `#` the rest (and the parent); wildcards do not match `$` topics first. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false; // [MQTT-4.7.2-1]
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/** Fails after `ms`, and then aborts `work` (which delivers nothing more); a failure of `work` aborts it too. */
async function withDeadline(work: Promise<void>, ms: number, abort: AbortController): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`replaying the session's backlog took over ${ms / 1000} s`)), ms);
  });
  try {
    await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
    abort.abort();
    work.catch(() => undefined); // its own failure after the deadline is moot
  }
}
