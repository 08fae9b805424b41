/** Verdict for the messages of one publisher (or a sum of them) as seen by one subscriber. */
export interface SequenceCounts {
  /** Every arrival, duplicates included. */
  received: number;
  /** Sent sequence numbers that never arrived. */
  lost: number;
  /** Arrivals of a sequence number that had already arrived. */
  duplicated: number;
  /** First arrivals of a sequence number lower than one that arrived before it. */
  reordered: number;
  /** Arrivals with a publisher index or sequence number that was never sent, or too far out of order to check (SEQUENCE_WINDOW). */
  unexpected: number;
}

/**
 * Sequence numbers tracked per publisher: arrivals are checked against a sliding window of this
 * many numbers below the highest one seen (1 MiB of bits per publisher and subscriber at most), so
 * a run of any length stays bounded. A message further out of order than that cannot be told from
 * a duplicate and counts as unexpected; so does one that jumps this far ahead of the highest.
 */
export const SEQUENCE_WINDOW = 1 << 23;

/** What one subscriber has seen from one publisher. */
class Stream {
  readonly #window: number;
  /** Bit `seq % window` is set when `seq` (within the window) has arrived; grows up to window / 8 bytes. */
  #seen = new Uint8Array(128);
  #highest = -1;
  received = 0;
  distinct = 0;
  duplicated = 0;
  reordered = 0;
  outOfRange = 0;

  /** `window` is a power of two of at least 1024. */
  constructor(window: number) {
    this.#window = window;
  }

  /** Records one arrival of `seq`. */
  record(seq: number): void {
    this.received++;
    const low = this.#highest - this.#window + 1;
    if (!Number.isInteger(seq) || seq < 0 || seq < low || seq >= this.#highest + this.#window) {
      this.outOfRange++;
      return;
    }
    if (seq > this.#highest) this.#advance(seq);
    const index = seq % this.#window;
    const byte = index >>> 3;
    const bit = 1 << (index & 7);
    const current = this.#seen[byte] ?? 0;
    if ((current & bit) !== 0) {
      this.duplicated++;
      return;
    }
    this.#seen[byte] = current | bit;
    this.distinct++;
    if (seq < this.#highest) this.reordered++;
    else this.#highest = seq;
  }

  /** Distinct arrivals with a sequence number of `sent` or more, i.e. never sent (within the window). */
  beyond(sent: number): number {
    let count = 0;
    for (let seq = Math.max(0, sent, this.#highest - this.#window + 1); seq <= this.#highest; seq++) {
      const index = seq % this.#window;
      if (((this.#seen[index >>> 3] ?? 0) & (1 << (index & 7))) !== 0) count++;
    }
    return count;
  }

  /** Makes room for `seq`: grows the bitmap, or clears the bits of the numbers that leave the window. */
  #advance(seq: number): void {
    const needed = (Math.min(seq, this.#window - 1) >>> 3) + 1;
    if (needed > this.#seen.length) {
      let size = this.#seen.length;
      while (size < needed) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.#seen);
      this.#seen = next;
    }
    // Numbers highest-window+1 … seq-window leave the window; their bits are reused by highest+1 … seq.
    for (let gone = Math.max(0, this.#highest - this.#window + 1); gone <= seq - this.#window; gone++) {
      const index = gone % this.#window;
      this.#seen[index >>> 3] = (this.#seen[index >>> 3] ?? 0) & ~(1 << (index & 7));
    }
  }
}

/**
 * Counts lost, duplicated and reordered messages per publisher for one subscriber.
 * Publisher `p` is expected to send sequence numbers 0, 1, 2, … in order.
 */
export class SequenceChecker {
  readonly #streams = new Map<number, Stream>();
  readonly #window: number;

  /** `window`: see SEQUENCE_WINDOW (smaller in tests); a power of two of at least 1024. */
  constructor(window = SEQUENCE_WINDOW) {
    if (!Number.isInteger(Math.log2(window)) || window < 1024) throw new Error(`bad sequence window ${window}`);
    this.#window = window;
  }

  /** Records that message `seq` of publisher `publisher` arrived. */
  record(publisher: number, seq: number): void {
    let stream = this.#streams.get(publisher);
    if (stream === undefined) {
      stream = new Stream(this.#window);
      this.#streams.set(publisher, stream);
    }
    stream.record(seq);
  }

  /** Counts for one publisher that sent sequence numbers 0 … sent-1. */
  countsFor(publisher: number, sent: number): SequenceCounts {
    const stream = this.#streams.get(publisher);
    if (stream === undefined) {
      return { received: 0, lost: sent, duplicated: 0, reordered: 0, unexpected: 0 };
    }
    const beyond = stream.beyond(sent);
    return {
      received: stream.received,
      lost: sent - (stream.distinct - beyond),
      duplicated: stream.duplicated,
      reordered: stream.reordered,
      unexpected: stream.outOfRange + beyond,
    };
  }

  /** Counts per publisher given `sent[p]` messages from publisher `p`; unknown publishers are all unexpected. */
  counts(sent: readonly number[]): SequenceCounts[] {
    const perPublisher = sent.map((count, publisher) => this.countsFor(publisher, count));
    for (const [publisher, stream] of this.#streams) {
      if (publisher >= 0 && publisher < sent.length && Number.isInteger(publisher)) continue;
      perPublisher.push({ ...emptyCounts(), received: stream.received, unexpected: stream.received });
    }
    return perPublisher;
  }
}

/** All-zero counts. */
export function emptyCounts(): SequenceCounts {
  return { received: 0, lost: 0, duplicated: 0, reordered: 0, unexpected: 0 };
}

/** Adds up counts field by field. */
export function sumCounts(all: readonly SequenceCounts[]): SequenceCounts {
  const total = emptyCounts();
  for (const c of all) {
    total.received += c.received;
    total.lost += c.lost;
    total.duplicated += c.duplicated;
    total.reordered += c.reordered;
    total.unexpected += c.unexpected;
  }
  return total;
}
