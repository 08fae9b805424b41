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
