import { Session, type SessionDeps } from './session.js';

/** What happens around a session's lifetime, wired by the broker. */
export interface SessionLifecycle {
  /** The session is gone (expired, replaced by a clean start, ended with its connection, or deleted by an operator). */
  ended(session: Session, reason: 'expired' | 'clean-start' | 'connection-closed' | 'deleted'): void;
  /** The will delay passed (or the session ended first): publish the session's will. */
  willDue(session: Session): void;
}

/** Session Expiry Interval meaning "never expires". */
export const NEVER_EXPIRES = 0xffffffff;
/** setTimeout cannot wait longer than this. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** All sessions by client id, with their expiry and will-delay timers. */
export class SessionRegistry {
  readonly #sessions = new Map<string, Session>();
  readonly #expiryTimers = new Map<string, NodeJS.Timeout>();
  readonly #willTimers = new Map<string, NodeJS.Timeout>();
  readonly #deps: SessionDeps;
  readonly #lifecycle: SessionLifecycle;

  constructor(deps: SessionDeps, lifecycle: SessionLifecycle) {
    this.#deps = deps;
    this.#lifecycle = lifecycle;
  }

  get(clientId: string): Session | undefined {
    return this.#sessions.get(clientId);
  }

  has(clientId: string): boolean {
    return this.#sessions.has(clientId);
  }

  get size(): number {
    return this.#sessions.size;
  }

  values(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  /** Creates an empty session (used by CONNECT and by restore). */
  create(clientId: string): Session {
    const session = new Session(clientId, this.#deps);
    this.#sessions.set(clientId, session);
    return session;
  }

  /**
   * Returns the session for a CONNECT: the existing one when `cleanStart` is false,
   * otherwise a new one (ending any existing session) [MQTT-3.1.2-4] [MQTT-3.1.2-5].
   */
  open(clientId: string, cleanStart: boolean): { session: Session; present: boolean } {
    const existing = this.#sessions.get(clientId);
    if (existing && !cleanStart) {
      this.cancelTimers(clientId); // back in time: a delayed will is not sent [MQTT-3.1.3-9]
      return { session: existing, present: true };
    }
    if (existing) this.end(existing, 'clean-start'); // the session ends, so a delayed will is due now
    return { session: this.create(clientId), present: false };
  }

  /**
   * Removes a session without ending it (cluster mode: another node owns it now and carries it
   * on): no will, no lifecycle, nothing written.
   */
  evict(session: Session): void {
    if (this.#sessions.get(session.clientId) !== session) return;
    this.cancelTimers(session.clientId);
    this.#sessions.delete(session.clientId);
  }

  /** Ends a session now: it is removed and the lifecycle is told. */
  end(session: Session, reason: 'expired' | 'clean-start' | 'connection-closed' | 'deleted'): void {
    if (this.#sessions.get(session.clientId) !== session) return;
    const willPending = session.willDueAt !== undefined;
    this.cancelTimers(session.clientId);
    this.#sessions.delete(session.clientId);
    // The will goes out at the latest when the session ends [MQTT-3.1.3-9]
    if (willPending) this.#lifecycle.willDue(session);
    this.#lifecycle.ended(session, reason);
  }

  /** Starts the expiry timer of a session whose client went away. */
  scheduleExpiry(session: Session, delaySeconds = session.expiryInterval): void {
    if (session.expiryInterval === NEVER_EXPIRES) return;
    if (delaySeconds <= 0) {
      this.end(session, session.expiryInterval === 0 ? 'connection-closed' : 'expired');
      return;
    }
    this.#setTimer(this.#expiryTimers, session.clientId, delaySeconds, () => this.end(session, 'expired'));
  }

  /** Starts the will-delay timer [MQTT-3.1.3-9]; `session.willDueAt` records it for the store. */
  scheduleWill(session: Session, delaySeconds: number): void {
    session.willScheduled(Date.now() + delaySeconds * 1000);
    this.#setTimer(this.#willTimers, session.clientId, delaySeconds, () => {
      this.#willTimers.delete(session.clientId);
      session.willScheduled(undefined);
      this.#lifecycle.willDue(session);
    });
  }

  /** Cancels the expiry and will timers of a client that came back (its pending will is not sent). */
  cancelTimers(clientId: string): void {
    clearTimeout(this.#expiryTimers.get(clientId));
    this.#expiryTimers.delete(clientId);
    clearTimeout(this.#willTimers.get(clientId));
    this.#willTimers.delete(clientId);
    const session = this.#sessions.get(clientId);
    if (session) session.willScheduled(undefined);
  }

  /** Stops every timer (broker shutdown). Sessions keep their state, pending wills included, for the store. */
  stop(): void {
    for (const timer of [...this.#expiryTimers.values(), ...this.#willTimers.values()]) clearTimeout(timer);
    this.#expiryTimers.clear();
    this.#willTimers.clear();
  }

  #setTimer(timers: Map<string, NodeJS.Timeout>, clientId: string, seconds: number, fn: () => void): void {
    clearTimeout(timers.get(clientId));
    const deadline = Date.now() + seconds * 1000;
    const arm = (): void => {
      const left = deadline - Date.now();
      if (left <= 0) {
        fn();
        return;
      }
      // Intervals up to 0xFFFFFFFF s exceed what one setTimeout can wait: re-arm until due.
      const timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
      timer.unref();
      timers.set(clientId, timer);
    };
    arm();
  }
}
