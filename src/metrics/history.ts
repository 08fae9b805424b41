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
    const totals = this.#totals(now);
    const seconds = Math.max((now - this.#last.at) / 1000, 0.001);
    const rate = (a: number, b: number) => Math.round(((a - b) / seconds) * 100) / 100;
    this.#samples.push({
      time: now,
      messagesIn: rate(totals.received, this.#last.received),
      messagesOut: rate(totals.sent, this.#last.sent),
      connections: this.#connections(),
      dropped: rate(totals.dropped, this.#last.dropped),
    });
    if (this.#samples.length > this.size) this.#samples.shift();
    this.#last = totals;
  }

  /** The samples, oldest first. */
  samples(): HistorySample[] {
    return [...this.#samples];
  }

  #totals(at: number): Totals {
    const s = this.#stats;
    const sum = (a: readonly number[]) => a.reduce((x, y) => x + y, 0);
    return { at, received: sum(s.messagesReceivedByQos), sent: sum(s.messagesSentByQos), dropped: sum(Object.values(s.dropped)) };
  }
}
