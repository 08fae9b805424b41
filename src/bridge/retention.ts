import type { Logger } from 'pino';
import type { StreamConfig } from './config.js';
import type { Log } from './log.js';

/** Records examined per step of a retention pass. */
const STEP = 1000;

/** What retention asks of the rest of the bridge. */
export interface RetentionPolicy {
  /**
   * The lowest offset a sink still has to ship in `stream`, or undefined. With the 'block' policy
   * retention stops there; with 'drop-oldest' it removes past it and reports the drop.
   */
  protectedFrom(stream: string): number | undefined;
  readonly block: boolean;
  /** Records removed before a sink shipped them ('drop-oldest'). */
  dropped(stream: string, from: number, upTo: number): void;
  /** Called after each pass (releases acknowledgements withheld by 'block'). */
  passed(): void;
}

/**
 * The background loop of a retention: one pass over every stream each `intervalMs` after the last
 * pass ended; a stream whose step fails is logged and tried again at the next pass. The embedded
 * log's retention and the cluster's trimming of JetStream streams (src/cluster/log-retention.ts) use it.
 */
export class RetentionLoop {
  readonly #streams: readonly StreamConfig[];
  readonly #intervalMs: number;
  readonly #step: (stream: StreamConfig, now: number) => Promise<void>;
  readonly #passed: () => void;
  readonly #fail: (err: unknown, stream: StreamConfig) => void;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(streams: readonly StreamConfig[], intervalMs: number, step: (stream: StreamConfig, now: number) => Promise<void>, passed: () => void, fail: (err: unknown, stream: StreamConfig) => void) {
    this.#streams = streams;
    this.#intervalMs = intervalMs;
    this.#step = step;
    this.#passed = passed;
    this.#fail = fail;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  start(): void {
    if (this.#streams.length === 0 || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.run().finally(() => {
        this.#running = undefined;
        this.start();
      });
    }, this.#intervalMs);
  }

  /** One pass over every stream, then `passed`. */
  async run(now = Date.now()): Promise<void> {
    for (const stream of this.#streams) {
      if (this.#stopped) return;
      try {
        await this.#step(stream, now);
      } catch (err) {
        this.#fail(err, stream);
      }
    }
    this.#passed();
  }

  /** Stops the timer and waits for a running pass. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}

/** Enforces each stream's retention (bytes and age) in the background, one pass at a time. */
export class Retention {
  readonly #log: Log;
  readonly #policy: RetentionPolicy;
  readonly #loop: RetentionLoop;

  constructor(log: Log, streams: readonly StreamConfig[], policy: RetentionPolicy, logger: Logger, intervalMs: number) {
    this.#log = log;
    this.#policy = policy;
    this.#loop = new RetentionLoop(streams, intervalMs, (stream, now) => this.#enforce(stream, now), () => policy.passed(), (err, stream) => logger.error({ err, stream: stream.name }, 'log retention failed'));
  }

  start(): void {
    this.#loop.start();
  }

  /** One pass over every stream; failures are logged and the next pass tries again. */
  async run(now = Date.now()): Promise<void> {
    await this.#loop.run(now);
  }

  /** True when `stream` holds more than its retention allows (only possible under 'block'). */
  full(stream: StreamConfig): boolean {
    return this.#log.stat(stream.name).bytes > stream.maxBytes;
  }

  async #enforce(stream: StreamConfig, now: number): Promise<void> {
    const cutoff = stream.maxAgeMs > 0 ? now - stream.maxAgeMs : Number.NEGATIVE_INFINITY;
    const protect = this.#policy.block ? this.#policy.protectedFrom(stream.name) : undefined;
    for (;;) {
      const { bytes, first } = this.#log.stat(stream.name);
      let excess = bytes - stream.maxBytes;
      const head = await this.#log.head(stream.name, STEP);
      let upTo = first;
      let freed = 0;
      for (const r of head) {
        if (!(excess > 0 || r.timestamp < cutoff) || (protect !== undefined && r.offset >= protect)) break;
        excess -= r.size;
        freed += r.size;
        upTo = r.offset + 1;
      }
      if (upTo === first || this.#loop.stopped) return;
      const shipped = this.#policy.protectedFrom(stream.name);
      if (shipped !== undefined && shipped < upTo) this.#policy.dropped(stream.name, Math.max(shipped, first), upTo);
      this.#log.trim(stream.name, upTo, freed);
      await this.#log.flush();
      if (upTo <= (head[head.length - 1]?.offset ?? 0)) return; // stopped inside this step
    }
  }

  /** Stops the timer and waits for a running pass. */
  async stop(): Promise<void> {
    await this.#loop.stop();
  }
}
