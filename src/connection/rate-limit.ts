/**
 * A token bucket for one client's PUBLISH packets: up to `messagesPerSecond` packets and
 * `bytesPerSecond` bytes per second, with a one-second burst. 0 turns a dimension off.
 */
export class RateLimit {
  readonly #messageRate: number;
  readonly #byteRate: number;
  #messages: number;
  #bytes: number;
  #last = performance.now();

  constructor(messagesPerSecond: number, bytesPerSecond: number) {
    this.#messageRate = messagesPerSecond;
    this.#byteRate = bytesPerSecond;
    this.#messages = messagesPerSecond;
    this.#bytes = bytesPerSecond;
  }

  /** Counts one packet of `bytes`; returns how many milliseconds reading must pause (0: go on). */
  take(bytes: number): number {
    const now = performance.now();
    const elapsed = (now - this.#last) / 1000;
    this.#last = now;
    let wait = 0;
    if (this.#messageRate > 0) {
      this.#messages = Math.min(this.#messageRate, this.#messages + elapsed * this.#messageRate) - 1;
      if (this.#messages < 0) wait = (-this.#messages / this.#messageRate) * 1000;
    }
    if (this.#byteRate > 0) {
      this.#bytes = Math.min(this.#byteRate, this.#bytes + elapsed * this.#byteRate) - bytes;
      if (this.#bytes < 0) wait = Math.max(wait, (-this.#bytes / this.#byteRate) * 1000);
    }
    return Math.ceil(wait);
  }
}

/**
 * A connection's publish rate limit in effect: a PUBLISH over the RateLimit pauses reading for the
 * wait it asks for, then `resume` runs. Nothing is dropped; the client is only read more slowly.
 */
export class PublishThrottle {
  readonly #limit: RateLimit;
  readonly #resume: () => void;
  #timer: NodeJS.Timeout | undefined;

  constructor(limit: RateLimit, resume: () => void) {
    this.#limit = limit;
    this.#resume = resume;
  }

  /** True while reading is paused. */
  get paused(): boolean {
    return this.#timer !== undefined;
  }

  /** Counts a PUBLISH of `bytes`; returns true when it starts a pause. */
  take(bytes: number): boolean {
    const waitMs = this.#limit.take(bytes);
    if (waitMs <= 0 || this.paused) return false;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#resume();
    }, waitMs);
    return true;
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
