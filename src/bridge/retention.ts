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

/** Enforces each stream's retention (bytes and age) in the background, one pass at a time. */
export class Retention {
  readonly #log: Log;
  readonly #streams: readonly StreamConfig[];
  readonly #policy: RetentionPolicy;
  readonly #logger: Logger;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(log: Log, streams: readonly StreamConfig[], policy: RetentionPolicy, logger: Logger, intervalMs: number) {
    this.#log = log;
    this.#streams = streams;
    this.#policy = policy;
    this.#logger = logger;
    this.#intervalMs = intervalMs;
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

  /** One pass over every stream; failures are logged and the next pass tries again. */
  async run(now = Date.now()): Promise<void> {
    for (const stream of this.#streams) {
      if (this.#stopped) return;
      try {
        await this.#enforce(stream, now);
      } catch (err) {
        this.#logger.error({ err, stream: stream.name }, 'log retention failed');
      }
    }
    this.#policy.passed();
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
      if (upTo === first || this.#stopped) return;
      const shipped = this.#policy.protectedFrom(stream.name);
      if (shipped !== undefined && shipped < upTo) this.#policy.dropped(stream.name, Math.max(shipped, first), upTo);
      this.#log.trim(stream.name, upTo, freed);
      await this.#log.flush();
      if (upTo <= (head[head.length - 1]?.offset ?? 0)) return; // stopped inside this step
    }
  }

  /** Stops the timer and waits for a running pass. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }
}
