import { describe, expect, it } from 'vitest';
import { SEQUENCE_WINDOW, SequenceChecker, sumCounts } from '../../src/loadgen/sequence.js';
import type { SequenceCounts } from '../../src/loadgen/sequence.js';

/** Records `seqs` of publisher 0 and returns its counts, given it sent `sent` messages. */
function check(seqs: readonly number[], sent: number): SequenceCounts {
  const checker = new SequenceChecker();
  for (const seq of seqs) checker.record(0, seq);
  return checker.countsFor(0, sent);
}

describe('SequenceChecker', () => {
  it('reports nothing wrong for an in-order, complete stream', () => {
    expect(check([0, 1, 2, 3, 4], 5)).toEqual({ received: 5, lost: 0, duplicated: 0, reordered: 0, unexpected: 0 });
  });

  it('counts sequence numbers that never arrived as lost, including a missing tail', () => {
    expect(check([0, 2, 3, 5], 8)).toMatchObject({ received: 4, lost: 4, duplicated: 0, reordered: 0 });
  });

  it('counts a publisher that was never heard from as entirely lost', () => {
    expect(new SequenceChecker().countsFor(3, 10)).toMatchObject({ received: 0, lost: 10 });
  });

  it('counts repeated arrivals as duplicated, not as reordered or extra distinct messages', () => {
    expect(check([0, 1, 1, 2, 0, 2], 3)).toEqual({ received: 6, lost: 0, duplicated: 3, reordered: 0, unexpected: 0 });
  });

  it('counts a first arrival below the highest sequence seen so far as reordered', () => {
    expect(check([0, 2, 1, 3, 5, 4], 6)).toEqual({ received: 6, lost: 0, duplicated: 0, reordered: 2, unexpected: 0 });
  });

  it('tells reordering and duplication apart when both happen to one message', () => {
    expect(check([1, 0, 0], 2)).toMatchObject({ lost: 0, duplicated: 1, reordered: 1 });
  });

  it('keeps publishers separate', () => {
    const checker = new SequenceChecker();
    checker.record(0, 0);
    checker.record(1, 1);
    checker.record(1, 0);
    checker.record(0, 1);
    const [first, second] = checker.counts([2, 3]);
    expect(first).toMatchObject({ received: 2, lost: 0, reordered: 0 });
    expect(second).toMatchObject({ received: 2, lost: 1, reordered: 1 });
  });

  it('flags sequence numbers that were never sent and unknown publishers as unexpected', () => {
    const checker = new SequenceChecker();
    checker.record(0, 0);
    checker.record(0, 7);
    checker.record(0, SEQUENCE_WINDOW);
    checker.record(5, 0);
    const counts = checker.counts([2]);
    expect(counts[0]).toMatchObject({ received: 3, lost: 1, unexpected: 2 });
    expect(sumCounts(counts)).toMatchObject({ received: 4, lost: 1, unexpected: 3 });
  });

  it('tracks long streams past its initial capacity', () => {
    const seqs = Array.from({ length: 100_000 }, (_, i) => i).filter((i) => i !== 54_321);
    expect(check(seqs, 100_000)).toMatchObject({ received: 99_999, lost: 1, duplicated: 0, reordered: 0 });
  });

  it('checks runs of any length with a bounded window: losses, duplicates and reordering far past it', () => {
    const window = 1024;
    const checker = new SequenceChecker(window);
    const total = 10 * window + 17;
    for (let seq = 0; seq < total; seq++) {
      if (seq === 5000) continue; // lost
      if (seq === 7001) checker.record(0, 7003); // arrives early: 7001 and 7002 are then reordered
      if (seq === 7003) continue;
      checker.record(0, seq);
      if (seq === 9000) checker.record(0, 8990); // duplicate within the window
    }
    expect(checker.countsFor(0, total)).toEqual({ received: total, lost: 1, duplicated: 1, reordered: 2, unexpected: 0 });
  });

  it('counts an arrival further behind than the window, or further ahead, as unexpected', () => {
    const window = 1024;
    const checker = new SequenceChecker(window);
    for (let seq = 0; seq < 3 * window; seq++) checker.record(0, seq);
    checker.record(0, 10); // a duplicate or a very late message: it cannot be told any more
    checker.record(0, 3 * window - 1 + window); // jumps a whole window ahead
    expect(checker.countsFor(0, 3 * window)).toMatchObject({ lost: 0, duplicated: 0, unexpected: 2 });
  });

  it('rejects a window that is not a power of two of at least 1024', () => {
    expect(() => new SequenceChecker(1000)).toThrow(/bad sequence window/);
    expect(() => new SequenceChecker(512)).toThrow(/bad sequence window/);
  });
});
