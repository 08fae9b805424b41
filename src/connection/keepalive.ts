/** What the keepalive sweep checks: one connection. */
export interface KeepaliveSubject {
  /**
   * Closes the connection if nothing arrived for 1.5× its keepalive before `now` (performance.now()),
   * and returns when it is due next: the time its silence would reach 1.5× the keepalive, or
   * Infinity when nothing is enforced (keepalive 0, not connected, or just closed).
   */
  checkKeepalive(now: number): number;
}

/**
 * The shortest time between two sweeps: deadlines that fall closer together are checked together,
 * so a silent client is closed at most this long after its deadline, and many clients going
 * silent at once cost at most 1000 / MIN_SWEEP_GAP_MS passes a second.
 */
export const MIN_SWEEP_GAP_MS = 20;

/**
 * Keepalive enforcement for all of a broker's connections [MQTT-3.1.2-24]. Each connection keeps
 * the time data last arrived (a number, set on the hot path without touching any timer), and one
 * timer, armed for the earliest deadline of any connection, runs a sweep then: a silent client is
 * closed when its 1.5× keepalive has passed, not up to a fixed sweep interval later.
 *
 * Why a sweep over the live set rather than a timer per connection or a deadline-ordered heap: it
 * adds nothing to an idle connection's heap (a Timeout per connection, its closure and a holder
 * were about 250 bytes; a heap needs each connection's slot and position, and eager removal when it
 * closes). Activity only moves a deadline later, so the armed time stays a lower bound and nothing
 * is re-armed on the hot path; a new connection re-arms only if its first deadline is earlier.
 * A sweep costs one pass over the connections, and passes are rare: after one, the next is the
 * earliest deadline, at least half a keepalive away for clients that ping on time (every ~30 s with
 * keepalive 60), and never closer than MIN_SWEEP_GAP_MS.
 */
export class KeepaliveSweep {
  readonly #subjects: Iterable<KeepaliveSubject>;
  readonly #failed: (err: unknown) => void;
  #running = false;
  #timer: NodeJS.Timeout | undefined;
  /** The deadline the timer is armed for (Infinity: not armed). */
  #armedFor = Number.POSITIVE_INFINITY;

  /** Checks `subjects` (a live collection, read at each sweep); `failed` hears of a check that threw. */
  constructor(subjects: Iterable<KeepaliveSubject>, failed: (err: unknown) => void) {
    this.#subjects = subjects;
    this.#failed = failed;
  }

  /** Starts enforcing (deadlines given before are checked by a first sweep); idempotent. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.sweep(performance.now());
  }

  stop(): void {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
  }

  /** A subject has a deadline at `at` (performance.now() time): the sweep runs by then. */
  due(at: number): void {
    if (this.#running && at < this.#armedFor) this.#arm(at, performance.now());
  }

  /** Checks every subject against `now` and arms the timer for the earliest next deadline; one that throws does not stop the others. */
  sweep(now: number): void {
    let next = Number.POSITIVE_INFINITY;
    for (const subject of this.#subjects) {
      try {
        const due = subject.checkKeepalive(now);
        if (due < next) next = due;
      } catch (err) {
        this.#failed(err);
      }
    }
    this.#armedFor = Number.POSITIVE_INFINITY;
    if (this.#running) this.#arm(next, now);
  }

  #arm(at: number, now: number): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = at;
    if (at === Number.POSITIVE_INFINITY) return;
    // Timers count whole milliseconds and may fire a fraction early: +1 so a deadline is never checked just before it
    const delay = Math.max(Math.ceil(at - now) + 1, MIN_SWEEP_GAP_MS);
    // The timer does not keep the process alive; a monotonic clock, so a step of the wall clock
    // (NTP, a resumed VM) cannot close every client at once
    this.#timer = setTimeout(() => this.sweep(performance.now()), Math.min(delay, 2 ** 31 - 1)).unref();
  }
}
