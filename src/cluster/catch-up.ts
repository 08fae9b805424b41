import type { Logger } from 'pino';
import type { Message } from '../model.js';
import type { Session, SessionCatchUp } from '../broker/session.js';
import { matchFilterOf } from '../broker/subscription.js';
import { decodeMessage } from '../store/records.js';
import { deliveryOf } from './replay.js';
import { isStreamId } from './session-record.js';
import type { ClusterEngine } from './sessions.js';
import type { ClusterStore } from './session-store.js';
import { readSubjects, StoredCursor } from './stream-reader.js';
import { filterSubjects } from './subjects.js';

/** A read that failed (NATS gone, JetStream not serving) is tried again after this long. */
const RETRY_MS = 1000;
/** Before a caught-up session takes live messages again, the node's live path may take this long to reach what was read. */
const LIVE_WAIT_MS = 2000;
/** Most often behind sessions are checked for a stall, in ms. */
const MAX_SWEEP_MS = 1000;

/** Where a session that fell behind stands. */
interface Lag {
  /** The first stored message left out of its queue: every stored message for the session from here on is read back. */
  readonly from: number;
  /** Every stored message for the session up to here is delivered or queued. */
  cursor: number;
  /** The highest stored message the live path left to the catch-up. */
  skipped: number;
  /** The highest stored message read back that went to the session. */
  taken: number;
  /** A read of the stream is running. */
  reading: boolean;
  /** The read position in the stream on the session's subjects, kept from one read to the next. */
  stream: StoredCursor | undefined;
}

/** The catch-up's counters (status JSON, $SYS, /metrics). */
export interface CatchUpFigures {
  /** Stored messages left out of consuming subscribers' full queues (read back later) since start. */
  readonly deferred: number;
  /** Stored messages read back from the stream and delivered or queued since start. */
  readonly read: number;
  /** Times a session fell behind since start. */
  readonly episodes: number;
  /** Sessions behind now. */
  readonly behind: number;
}

/** What the catch-up needs of the broker. */
export interface CatchUpHost {
  readonly logger: Logger;
  /** Whether `session` is still the registry's session of its client (not ended, replaced or taken over). */
  current(session: Session): boolean;
  /** Milliseconds without an acknowledgement after which a subscriber is stalled (flow control's stallTimeout). */
  readonly stallTimeout: number;
  readonly store: Pick<ClusterStore, 'behind' | 'resumed'>;
}

/**
 * Flow control in cluster mode (docs/cluster.md, *Flow control*). Every QoS 1/2 message is in the
 * MSGS stream, with its sequence as its identity, before any session gets it; so when a stored
 * message meets the full queue of a consuming subscriber, it is left out instead of dropped, and
 * the session is **behind** from it: the live path leaves every later stored message for it to
 * the catch-up too, so that none overtakes another. Once the queue is back under half its bounds,
 * the catch-up reads the stream from where the session fell behind with ordered (ephemeral)
 * consumers on the session's subjects (stream-reader.ts), and puts what
 * matches into the queue until it is full again (then it waits for room again) or the stream has
 * no more: then, in one synchronous step, the session takes live messages again. The stored
 * messages the live path brings late (it may lag behind the stream read) are ones it has: the
 * session skips them (`Session.caughtUp`). A subscriber that stalls while behind is read on at
 * once, and its queue follows `queueOverflow` (each drop counted) as any stalled subscriber's; one
 * that goes offline is read no further (its backlog stays in the stream until it is back). While behind, the session record's floor stays at the last message read, so a
 * node resuming the session reads the rest from the stream. No durable consumer is made.
 */
export class ClusterCatchUp implements SessionCatchUp {
  readonly #host: CatchUpHost;
  readonly #lags = new Map<Session, Lag>();
  #engine: ClusterEngine | undefined;
  #timer: NodeJS.Timeout | undefined;
  #deferred = 0;
  #read = 0;
  #episodes = 0;

  constructor(host: CatchUpHost) {
    this.#host = host;
  }

  /** The node joined the cluster: the stream can be read. */
  join(engine: ClusterEngine): void {
    this.#engine = engine;
  }

  /** The node is leaving: reads stop, and their consumers go. */
  stop(): void {
    this.#engine = undefined;
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const session of [...this.#lags.keys()]) this.#forget(session);
  }

  figures(): CatchUpFigures {
    return { deferred: this.#deferred, read: this.#read, episodes: this.#episodes, behind: this.#lags.size };
  }

  defers(session: Session, message: Message): boolean {
    // Only a stored message can be read back; a late one from before the session fell behind is queued
    if (this.#engine === undefined || !isStored(message) || this.#lags.has(session)) return false;
    this.#lags.set(session, { from: message.id, cursor: message.id - 1, skipped: message.id, taken: 0, reading: false, stream: undefined });
    this.#host.store.behind(session.clientId, message.id - 1);
    this.#deferred++;
    this.#episodes++;
    this.#startSweep();
    return true;
  }

  skips(session: Session, message: Message): boolean {
    const lag = this.#lags.get(session);
    // A stored message from before the session fell behind (a gap replay brings it late) was never read: it is delivered
    if (lag === undefined || !isStored(message) || message.id < lag.from) return false;
    if (message.id > lag.skipped) lag.skipped = message.id;
    this.#deferred++;
    return true;
  }

  room(session: Session): void {
    const lag = this.#lags.get(session);
    // Offline, its backlog stays in the stream (the record's floor is at the last message read) until it is back
    if (lag === undefined || lag.reading || !session.connected) return;
    lag.reading = true;
    void this.#catchUp(session, lag).finally(() => {
      lag.reading = false;
    });
  }

  /** Reads the stream for `session` until its queue is full again or it has every stored message, then lets live messages through. */
  async #catchUp(session: Session, lag: Lag): Promise<void> {
    try {
      for (;;) {
        const engine = this.#engine;
        if (engine === undefined || !this.#host.current(session)) return this.#forget(session);
        if (!(await this.#readRound(engine, session, lag))) return; // full again: room() goes on
        if (!this.#host.current(session)) return this.#forget(session);
        // The live path may not have brought what was read yet: let it (those it brings are skipped)
        const waitedFrom = Date.now();
        while (engine.position() < lag.taken && lag.skipped <= lag.cursor && Date.now() - waitedFrom < LIVE_WAIT_MS) await sleep(10);
        if (lag.skipped > lag.cursor) continue; // stored while it read: read on
        // Caught up, in one synchronous step: from here on the live path delivers to the session
        this.#forget(session);
        session.caughtUp(lag.from, lag.cursor);
        this.#host.store.resumed(session.clientId, undefined, lag.cursor);
        return;
      }
    } catch (err) {
      this.#host.logger.warn({ err, clientId: session.clientId }, 'cannot read the stored messages a session fell behind on; trying again');
      this.#end(lag); // read again from where the session stands
      setTimeout(() => this.room(session), RETRY_MS).unref();
    }
  }

  /**
   * One read from `lag.cursor + 1` to what the stream holds now: false when the session's queue
   * filled up (the rest waits for room), true when the read reached the end.
   */
  async #readRound(engine: ClusterEngine, session: Session, lag: Lag): Promise<boolean> {
    const subscriptions = session.subscriptionList().filter((s) => s.group === undefined);
    const through = lag.skipped; // every message up to here is stored: read up to it at least
    if (subscriptions.length === 0) {
      lag.cursor = Math.max(lag.cursor, through); // no subscription left: nothing of it is wanted
      return true;
    }
    const subjects = subscriptions.flatMap((s) => filterSubjects(`${engine.prefix}.msgs`, matchFilterOf(s)));
    let stream = lag.stream;
    if (stream !== undefined && !sameSubjects(stream.subjects, readSubjects(engine.prefix, subjects))) {
      // The subscriptions changed: read their subjects from where the session stands
      void stream.close();
      stream = undefined;
    }
    stream ??= lag.stream = new StoredCursor(engine, subjects, lag.cursor);
    let full = false;
    await stream.read(session.queueRoom, (m) => {
      if (!this.#host.current(session)) return false;
      if (!session.connected) {
        full = true; // gone offline (or taken over): the rest waits in the stream
        return false;
      }
      const message = this.#decode(m.data, m.seq, session);
      const delivery = message === undefined ? undefined : deliveryOf(subscriptions, message);
      if (message !== undefined && delivery !== undefined) {
        if (!session.deliverBehind(message, delivery.qos, delivery.retain, delivery.ids)) {
          full = true;
          return false;
        }
        lag.taken = m.seq;
        this.#read++;
      }
      lag.cursor = m.seq;
      return true;
    });
    this.#host.store.behind(session.clientId, lag.cursor);
    if (full || !this.#host.current(session)) return !full;
    // The read ended where the subjects' consumers counted no more (stream-reader.ts: a short pull is
    // counted again, never taken for the end): nothing for the session up to `through` is left
    lag.cursor = Math.max(lag.cursor, through);
    return true;
  }

  /** A stored message read back, or undefined (logged) when it cannot be decoded: the live path skips such a message too. */
  #decode(data: Uint8Array, seq: number, session: Session): Message | undefined {
    try {
      return { ...decodeMessage(data), id: seq };
    } catch (err) {
      this.#host.logger.warn({ err, seq, clientId: session.clientId }, 'cannot decode a stored message read back; skipped');
      return undefined;
    }
  }

  /** Ends a session's episode: its consumers go. */
  #end(lag: Lag): void {
    void lag.stream?.close();
    lag.stream = undefined;
  }

  #forget(session: Session): void {
    const lag = this.#lags.get(session);
    if (lag !== undefined) this.#end(lag);
    this.#lags.delete(session);
  }

  /** While sessions are behind, checks now and then whether one stalled or went away (it waits for room no longer). */
  #startSweep(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#sweep(), Math.max(1, Math.min(MAX_SWEEP_MS, Math.floor(this.#host.stallTimeout / 4))));
    this.#timer.unref();
  }

  #sweep(): void {
    const now = Date.now();
    for (const [session, lag] of this.#lags) {
      if (!this.#host.current(session)) this.#forget(session);
      // Stalled: it waits for room no longer; an empty queue has room (should a drain have gone unheard). Offline: room() waits
      else if (!lag.reading && (!session.consuming(now) || session.queuedCount === 0)) this.room(session);
    }
    if (this.#lags.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}

/** Whether two lists of subjects are the same. */
function sameSubjects(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** A message that is in the MSGS stream, identified by its sequence. */
function isStored(message: Message): boolean {
  return message.qos > 0 && isStreamId(message.id);
}
