import type { ProgressSink } from './metrics.js';
import { fmt } from './table.js';

/** How often the progress line is redrawn. */
const REDRAW_MS = 250;

/** Where progress is drawn: a terminal stream (stderr). */
export interface ProgressOutput {
  isTTY?: boolean;
  write(text: string): boolean;
}

/** What is being tracked since the last track() call. */
interface Tracked {
  label: string;
  count: () => number;
  unit: string;
  totalMs: number | undefined;
  startedMs: number;
  lastCount: number;
  lastMs: number;
}

/**
 * One line on a terminal, redrawn in place: phase, elapsed time and the current rate of the tracked
 * counter. On anything but a TTY it draws nothing, so piped output and logs stay clean.
 */
export class Progress implements ProgressSink {
  readonly #out: ProgressOutput;
  readonly #enabled: boolean;
  #tracked: Tracked | undefined;
  #timer: NodeJS.Timeout | undefined;

  /** Draws on `out` only when it is a TTY. */
  constructor(out: ProgressOutput) {
    this.#out = out;
    this.#enabled = out.isTTY === true;
  }

  /** Starts showing `label` and the rate of `count()`. */
  track(label: string, count: () => number, unit: string, totalMs?: number): void {
    if (!this.#enabled) return;
    const now = performance.now();
    this.#tracked = { label, count, unit, totalMs, startedMs: now, lastCount: count(), lastMs: now };
    this.#timer ??= setInterval(() => this.#draw(), REDRAW_MS);
  }

  /** Stops redrawing and clears the line. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#enabled && this.#tracked !== undefined) this.#out.write('\r\x1b[K');
    this.#tracked = undefined;
  }

  #draw(): void {
    const t = this.#tracked;
    if (t === undefined) return;
    const now = performance.now();
    const count = t.count();
    const rate = ((count - t.lastCount) * 1000) / Math.max(1, now - t.lastMs);
    t.lastCount = count;
    t.lastMs = now;
    const elapsed = ((now - t.startedMs) / 1000).toFixed(1);
    const total = t.totalMs === undefined ? '' : ` / ${(t.totalMs / 1000).toFixed(1)}`;
    const unitLabel = t.unit.replace('/s', '');
    this.#out.write(`\r\x1b[K${t.label} ${elapsed}${total} s  ${fmt(rate, 0)} ${t.unit}  ${fmt(count, 0)} ${unitLabel}`);
  }
}
