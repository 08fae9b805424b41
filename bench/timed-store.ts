import { LevelStore } from '../src/store/level.js';
import type { CommitStats } from '../src/store/level.js';
import { summarizeLatencyNs } from '../src/loadgen/stats.js';
import type { LatencySummary } from '../src/loadgen/stats.js';

/** What the instrumented Midge answers to a `{ type: 'counters' }` query. */
export interface CommitCounters {
  type: 'counters';
  /** performance.now() in the broker process when the counters were read. */
  atMs: number;
  /** LevelStore.stats, cumulative since the store opened. */
  store: CommitStats;
  /** Time each flush() took to resolve, since the previous query. */
  flushWaits: LatencySummary;
}

/** Most flush waits kept for percentiles between two queries; later ones still count in max and mean. */
const MAX_SAMPLES = 1 << 20;

/** Flush waits between two queries: exact count, mean and max, percentiles over the first MAX_SAMPLES. */
class WaitRecorder {
  #samplesNs: number[] = [];
  #count = 0;
  #sumNs = 0;
  #maxNs = 0;

  /** Adds one wait. */
  add(ns: number): void {
    this.#count++;
    this.#sumNs += ns;
    if (ns > this.#maxNs) this.#maxNs = ns;
    if (this.#samplesNs.length < MAX_SAMPLES) this.#samplesNs.push(ns);
  }

  /** The summary since the last take(), then starts afresh. */
  take(): LatencySummary {
    const summary = summarizeLatencyNs(Float64Array.from(this.#samplesNs));
    const result = {
      ...summary,
      samples: this.#count,
      maxMs: this.#maxNs / 1e6,
      meanMs: this.#count > 0 ? this.#sumNs / this.#count / 1e6 : Number.NaN,
    };
    this.#samplesNs = [];
    this.#count = 0;
    this.#sumNs = 0;
    this.#maxNs = 0;
    return result;
  }
}

/**
 * Midge's LevelStore, unchanged except that it times every flush(). The broker calls flush() once
 * per PUBACK/PUBREC/PUBCOMP it holds back for durability, so a flush wait is how long that
 * acknowledgement waited for the group commit that made its message safe.
 */
export class TimedLevelStore extends LevelStore {
  readonly #waits = new WaitRecorder();

  /** Commits as LevelStore does, recording how long the caller waits. */
  override flush(): Promise<void> {
    const started = performance.now();
    const committed = super.flush();
    committed.then(
      () => this.#waits.add((performance.now() - started) * 1e6),
      () => undefined, // the broker sees and reports the failure; stats.errors counts it
    );
    return committed;
  }

  /** The store's commit stats and the flush waits since the previous call. */
  counters(): CommitCounters {
    return { type: 'counters', atMs: performance.now(), store: { ...this.stats }, flushWaits: this.#waits.take() };
  }
}
