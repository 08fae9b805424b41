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
  /** Arrivals with a publisher index or sequence number that was never sent. */
  unexpected: number;
}

/** Highest sequence number the checker will track per publisher; anything above counts as unexpected. */
export const MAX_TRACKED_SEQ = 1 << 26;

/** What one subscriber has seen from one publisher. */
class Stream {
  #seen = new Uint8Array(1024);
  #highest = -1;
  received = 0;
  distinct = 0;
  duplicated = 0;
  reordered = 0;
  outOfRange = 0;

  /** Records one arrival of `seq`. */
  record(seq: number): void {
    this.received++;
    if (!Number.isInteger(seq) || seq < 0 || seq >= MAX_TRACKED_SEQ) {
      this.outOfRange++;
      return;
    }
    this.#grow(seq);
    const byte = seq >>> 3;
    const bit = 1 << (seq & 7);
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

  /** Distinct arrivals with a sequence number of `sent` or more, i.e. never sent. */
  beyond(sent: number): number {
    let count = 0;
    for (let seq = Math.max(0, sent); seq <= this.#highest; seq++) {
      if (((this.#seen[seq >>> 3] ?? 0) & (1 << (seq & 7))) !== 0) count++;
    }
    return count;
  }

  #grow(seq: number): void {
    const needed = (seq >>> 3) + 1;
    if (needed <= this.#seen.length) return;
    let size = this.#seen.length;
    while (size < needed) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#seen);
    this.#seen = next;
  }
}

/**
 * Counts lost, duplicated and reordered messages per publisher for one subscriber.
 * Publisher `p` is expected to send sequence numbers 0, 1, 2, … in order.
 */
export class SequenceChecker {
  readonly #streams = new Map<number, Stream>();

  /** Records that message `seq` of publisher `publisher` arrived. */
  record(publisher: number, seq: number): void {
    let stream = this.#streams.get(publisher);
    if (stream === undefined) {
      stream = new Stream();
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
