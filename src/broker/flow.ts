import type { Plugin } from '../hooks.js';
import type { ClientInfo, Message } from '../model.js';
import type { Session, SessionFlow } from './session.js';

/** One withheld acknowledgement: it goes once every session it waits on is relieved. */
interface Hold {
  readonly clientId: string;
  remaining: number;
  readonly resolve: () => void;
}

/** The last withheld acknowledgement of one publisher: later ones of that publisher wait behind it. */
interface Tail {
  readonly promise: Promise<void>;
}

/** What flow control reports (metrics, $SYS). */
export interface FlowStatus {
  /** Publishers with at least one acknowledgement withheld now. */
  readonly publishersHeld: number;
  /** Acknowledgements (PUBACK/PUBREC) withheld now. */
  readonly acknowledgementsHeld: number;
  /** Acknowledgements withheld since start. */
  readonly acknowledgementsHeldTotal: number;
  /** Sessions whose full queue holds publishers back now. */
  readonly sessionsHolding: number;
}

/** Most often the stall check runs, in ms. */
const MAX_SWEEP_MS = 1000;

/**
 * End-to-end flow control for QoS 1/2 (README *Flow control*). When a delivery goes into the full
 * queue of a consuming subscriber (one that acknowledged something within `stallTimeout`), the
 * acknowledgement of the PUBLISH that caused it is withheld until that queue is back under half its
 * bounds, so the publisher's own in-flight window (MQTT 5 Receive Maximum, or its client's limit)
 * stops it instead of the broker dropping what it acknowledged. Only the publishers of messages
 * that went into a full queue wait; a publisher feeding only other subscribers is never held.
 * Every held publisher is let go at once, in the order it was held (fair: each gets its window
 * per round). A subscriber that stalls or goes offline, or ends, lets its publishers go at once,
 * and so does a publisher that disconnects.
 *
 * It is an ordinary plugin: holds go through `holdAcknowledgement`, the seam the log bridge's and
 * the MQTT bridges' 'block' policies use. The publisher brackets each routing with `begin`/`end`,
 * so the sessions it pressured belong to exactly that PUBLISH's acknowledgement.
 */
export class FlowControl implements Plugin, SessionFlow {
  readonly name = 'flow-control';
  readonly stallTimeout: number;
  /** Routings under way (a plugin may publish from inside one, e.g. from onDropped). */
  #routing = 0;
  #collected: Session[] | undefined;
  #pending: { readonly clientId: string; readonly sessions: Session[] } | undefined;
  /** Holds waiting on each pressured session, in the order they were made. */
  readonly #held = new Map<Session, Hold[]>();
  readonly #tails = new Map<string, Tail>();
  #holding = 0;
  #heldTotal = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(stallTimeout: number) {
    this.stallTimeout = stallTimeout;
  }

  /** The publisher starts routing one message. */
  begin(): void {
    if (this.#routing++ === 0) this.#collected = undefined;
  }

  /** The publisher routed the message of `client` (undefined: the broker's own): the sessions it pressured wait for its acknowledgement. */
  end(client: ClientInfo | undefined): void {
    if (--this.#routing > 0) return; // a publish inside another one: its pressure counts for the outer one
    const sessions = this.#collected;
    this.#collected = undefined;
    this.#pending = sessions !== undefined && client !== undefined ? { clientId: client.id, sessions } : undefined;
  }

  pressured(session: Session): void {
    if (this.#routing > 0) (this.#collected ??= []).push(session);
  }

  relieved(session: Session): void {
    const holds = this.#held.get(session);
    if (holds === undefined) return;
    this.#held.delete(session);
    for (const hold of holds) this.#settle(hold);
    if (this.#held.size === 0) this.#stopSweep();
  }

  /**
   * The acknowledgement of `message` waits while a session it went into is full and consuming; a
   * publisher with an acknowledgement withheld has all its later ones wait behind it, so they keep
   * their order [MQTT-4.6.0-2] [MQTT-4.6.0-3].
   */
  holdAcknowledgement(client: ClientInfo, _message: Message): Promise<void> | undefined {
    const pending = this.#pending;
    this.#pending = undefined;
    const tail = this.#tails.get(client.id);
    if (pending === undefined || pending.clientId !== client.id) return tail?.promise;
    const own = new Promise<void>((resolve) => {
      const hold: Hold = { clientId: client.id, remaining: pending.sessions.length, resolve };
      for (const session of pending.sessions) {
        const holds = this.#held.get(session);
        if (holds === undefined) this.#held.set(session, [hold]);
        else holds.push(hold);
      }
    });
    this.#holding++;
    this.#heldTotal++;
    const promise = tail === undefined ? own : Promise.all([tail.promise, own]).then(() => undefined);
    const next: Tail = { promise };
    this.#tails.set(client.id, next);
    void promise.then(() => {
      if (this.#tails.get(client.id) === next) this.#tails.delete(client.id);
    });
    this.#startSweep();
    return promise;
  }

  /** A publisher that disconnected is held no longer (its acknowledgements have nowhere to go). */
  onDisconnected(client: ClientInfo): void {
    if (!this.#tails.has(client.id)) return;
    for (const [session, holds] of this.#held) {
      const kept = holds.filter((hold) => hold.clientId !== client.id);
      if (kept.length === holds.length) continue;
      for (const hold of holds) if (hold.clientId === client.id) this.#settle(hold, true);
      if (kept.length === 0) this.#held.delete(session);
      else this.#held.set(session, kept);
    }
    if (this.#held.size === 0) this.#stopSweep();
  }

  status(): FlowStatus {
    return {
      publishersHeld: this.#tails.size,
      acknowledgementsHeld: this.#holding,
      acknowledgementsHeldTotal: this.#heldTotal,
      sessionsHolding: this.#held.size,
    };
  }

  /** Lets every held publisher go (the broker is closing). */
  close(): void {
    for (const session of [...this.#held.keys()]) this.relieved(session);
    this.#stopSweep();
  }

  #settle(hold: Hold, all = false): void {
    if (hold.remaining === 0) return;
    hold.remaining = all ? 0 : hold.remaining - 1;
    if (hold.remaining > 0) return;
    this.#holding--;
    hold.resolve();
  }

  /** While anything is held, checks now and then whether a subscriber it waits on has stalled. */
  #startSweep(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.#sweep(), Math.max(1, Math.min(MAX_SWEEP_MS, Math.floor(this.stallTimeout / 4))));
    this.#timer.unref();
  }

  #stopSweep(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    const now = Date.now();
    for (const session of [...this.#held.keys()]) session.checkStall(now);
    // A hold whose sessions were all relieved while it was being made (none is left pressured)
    for (const session of [...this.#held.keys()]) if (!session.holding) this.relieved(session);
    if (this.#held.size === 0) this.#stopSweep();
  }
}
