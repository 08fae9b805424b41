import type { Stats } from '../broker/stats.js';

/** One point of the dashboard's charts: rates over the interval that ended at `time`. */
export interface HistorySample {
  /** End of the interval, ms since the epoch. */
  readonly time: number;
  /** PUBLISH messages received from clients per second. */
  readonly messagesIn: number;
  /** PUBLISH messages sent to clients per second. */
  readonly messagesOut: number;
  /** Connected clients at `time`. */
  readonly connections: number;
  /** Messages dropped (every reason) per second. */
  readonly dropped: number;
}

interface Totals {
  readonly at: number;
  readonly received: number;
  readonly sent: number;
  readonly dropped: number;
}

/**
 * The last minutes of message rates, connections and drops, sampled every `intervalMs` into a
 * ring of `size` samples (default 5 s × 180 = 15 minutes), so that the dashboard's charts have a
 * past as soon as the page opens. Bounded: the oldest sample makes room for the newest.
 */
export class History {
  readonly intervalMs: number;
  readonly size: number;
  readonly #samples: HistorySample[] = [];
  readonly #stats: Stats;
  readonly #connections: () => number;
  #last: Totals;
  #timer: NodeJS.Timeout | undefined;

  constructor(stats: Stats, connections: () => number, intervalMs = 5000, size = 180) {
    this.#stats = stats;
    this.#connections = connections;
    this.intervalMs = intervalMs;
    this.size = size;
    this.#last = this.#totals(Date.now());
  }

  /** Starts sampling (the timer does not hold the process open). */
  start(): void {
    this.#timer ??= setInterval(() => this.sample(Date.now()), this.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Takes one sample now (the timer calls this). */
  sample(now: number): void {
    this.#samples.push(this.#since(this.#last, now));
    if (this.#samples.length > this.size) this.#samples.shift();
    this.#last = this.#totals(now);
  }

  /**
   * The samples, oldest first, and (a second or more after the last one) a point for the
   * interval running now, so that a chart reaches the present.
   */
  samples(now = Date.now()): HistorySample[] {
    const out = [...this.#samples];
    if (now - this.#last.at >= 1000) out.push(this.#since(this.#last, now));
    return out;
  }

  #since(last: Totals, now: number): HistorySample {
    const totals = this.#totals(now);
    const seconds = Math.max((now - last.at) / 1000, 0.001);
    const rate = (a: number, b: number) => Math.round(((a - b) / seconds) * 100) / 100;
    return {
      time: now,
      messagesIn: rate(totals.received, last.received),
      messagesOut: rate(totals.sent, last.sent),
      connections: this.#connections(),
      dropped: rate(totals.dropped, last.dropped),
    };
  }

  #totals(at: number): Totals {
    const s = this.#stats;
    const sum = (a: readonly number[]) => a.reduce((x, y) => x + y, 0);
    return { at, received: sum(s.messagesReceivedByQos), sent: sum(s.messagesSentByQos), dropped: sum(Object.values(s.dropped)) };
  }
}
