import type { CatchUpFigures } from './catch-up.js';

/** What a node reports about its part in the cluster (status JSON, $SYS, /metrics). */
export interface ClusterStatus {
  readonly nodeId: string;
  readonly incarnation: string;
  /** NATS is connected now. */
  readonly connected: boolean;
  /** Nodes whose heartbeat in the nodes bucket is recent (this one included). */
  readonly nodesSeen: number;
  /** Sessions this node holds (today: every session of its own clients). */
  readonly sessionsOwned: number;
  /** Shared subscriptions (group and filter) this node takes part in through NATS queue groups. */
  readonly sharedGroups: number;
  readonly append: {
    /** JetStream appends acknowledged (QoS 1/2 and retained messages). */
    readonly count: number;
    /** Attempts repeated with the same message id after a failure or timeout. */
    readonly retries: number;
    /** Appends given up after the retry deadline (their publisher was refused). */
    readonly failures: number;
    /** Latency from the first attempt to JetStream's acknowledgement over the last appends, in ms (null before any). */
    readonly p50Ms: number | null;
    readonly p99Ms: number | null;
  };
  /** Flow control: stored messages left out of consuming subscribers' full queues and read back from the stream (catch-up.ts). */
  readonly catchUp: CatchUpFigures;
}

/** How many recent append latencies the percentiles are taken over. */
const WINDOW = 4096;

/**
 * JetStream append figures of one node: counts, and the latencies of the last WINDOW appends for
 * p50/p99 (a ring, so reading them costs one sort of at most WINDOW numbers, per scrape).
 * Observers (the Prometheus histogram) hear each latency as it happens.
 */
export class AppendFigures {
  count = 0;
  retries = 0;
  failures = 0;
  readonly #ring = new Float64Array(WINDOW);
  #filled = 0;
  #next = 0;
  readonly #observers: ((ms: number) => void)[] = [];

  /** An append was acknowledged `ms` after its first attempt. */
  appended(ms: number): void {
    this.count++;
    this.#ring[this.#next] = ms;
    this.#next = (this.#next + 1) % WINDOW;
    if (this.#filled < WINDOW) this.#filled++;
    for (const observer of this.#observers) observer(ms);
  }

  /** Calls `observer` with each later append's latency in ms. */
  observe(observer: (ms: number) => void): void {
    this.#observers.push(observer);
  }

  /** The `p`-th percentile (0–100) of the recent latencies in ms, or null when there are none. */
  percentile(p: number): number | null {
    if (this.#filled === 0) return null;
    const sorted = Array.from(this.#ring.subarray(0, this.#filled)).sort((x, y) => x - y);
    const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return Math.round((sorted[index] as number) * 1000) / 1000;
  }
}
