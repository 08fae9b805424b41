/**
 * Keepalive enforcement: the connection is closed when nothing arrives for 1.5× the keepalive
 * [MQTT-3.1.2-24]. Activity is recorded with a timestamp per data chunk; one timer per connection
 * checks it, so the hot path never touches timers.
 */
export class Keepalive {
  readonly #onTimeout: () => void;
  #limitMs = 0;
  #lastSeen = Date.now();
  #timer: NodeJS.Timeout | undefined;

  constructor(onTimeout: () => void) {
    this.#onTimeout = onTimeout;
  }

  /** Starts checking for a keepalive of `seconds` (0 disables the check). */
  start(seconds: number): void {
    this.stop();
    if (seconds <= 0) return;
    this.#limitMs = seconds * 1500;
    this.#lastSeen = Date.now();
    this.#schedule(this.#limitMs);
  }

  /** Records activity from the client. */
  touch(): void {
    this.#lastSeen = Date.now();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(ms: number): void {
    this.#timer = setTimeout(() => this.#check(), ms);
    this.#timer.unref();
  }

  #check(): void {
    const idle = Date.now() - this.#lastSeen;
    if (idle >= this.#limitMs) this.#onTimeout();
    else this.#schedule(this.#limitMs - idle);
  }
}
