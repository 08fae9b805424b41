import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KeepaliveSweep, MIN_SWEEP_GAP_MS, type KeepaliveSubject } from '../../src/connection/keepalive.js';

/** A subject due at `deadline` (moved by the test), which closes when checked at or after it; records the times it was checked. */
function subject(deadline: number): KeepaliveSubject & { deadline: number; checks: number[] } {
  return {
    deadline,
    checks: [],
    checkKeepalive(now) {
      this.checks.push(now);
      if (now >= this.deadline) this.deadline = Number.POSITIVE_INFINITY;
      return this.deadline;
    },
  };
}

const fail = (err: unknown) => {
  throw err;
};

describe('KeepaliveSweep', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('checks at the earliest deadline, not up to a sweep interval later, then re-arms for the next one', () => {
    const t0 = performance.now();
    const a = subject(t0 + 1500);
    const b = subject(t0 + 4000);
    const sweep = new KeepaliveSweep([a, b], fail);
    sweep.start();
    sweep.start(); // idempotent
    expect(a.checks).toEqual([t0]); // start sweeps once
    vi.advanceTimersByTime(1499);
    expect(a.checks).toHaveLength(1);
    vi.advanceTimersByTime(2); // the deadline, plus the millisecond that keeps it from firing early
    expect(a.checks).toHaveLength(2);
    expect(a.checks[1]).toBeGreaterThanOrEqual(t0 + 1500); // and it closed
    vi.advanceTimersByTime(4000 - 1501 - 1);
    expect(b.checks).toHaveLength(2);
    vi.advanceTimersByTime(2);
    expect(b.checks).toHaveLength(3);
    expect(b.checks[2]).toBeGreaterThanOrEqual(t0 + 4000);
    sweep.stop();
  });

  it('due() re-arms for an earlier deadline only (a new connection), and not after stop()', () => {
    const t0 = performance.now();
    const subjects = new Set<ReturnType<typeof subject>>();
    const sweep = new KeepaliveSweep(subjects, fail);
    sweep.start(); // nothing to check: no timer
    const late = subject(t0 + 90_000);
    subjects.add(late);
    sweep.due(late.deadline);
    const soon = subject(t0 + 1500);
    subjects.add(soon);
    sweep.due(soon.deadline);
    sweep.due(t0 + 60_000); // later than the armed deadline: nothing changes
    vi.advanceTimersByTime(1501);
    expect(soon.checks).toHaveLength(1);
    expect(late.checks).toHaveLength(1); // every subject is checked at each sweep
    sweep.stop();
    sweep.due(performance.now() + 10);
    vi.advanceTimersByTime(100_000);
    expect(soon.checks).toHaveLength(1);
  });

  it(`passes are at least ${MIN_SWEEP_GAP_MS} ms apart, even when deadlines are closer`, () => {
    const checks: number[] = [];
    const restless: KeepaliveSubject = { checkKeepalive: (now) => (checks.push(now), now + 1) }; // always due again at once
    const sweep = new KeepaliveSweep([restless], fail);
    sweep.start();
    vi.advanceTimersByTime(10 * MIN_SWEEP_GAP_MS);
    expect(checks).toHaveLength(11);
    for (let i = 1; i < checks.length; i++) expect((checks[i] as number) - (checks[i - 1] as number)).toBeGreaterThanOrEqual(MIN_SWEEP_GAP_MS);
    sweep.stop();
  });

  it('a subject removed during a sweep does not stop the others from being checked', () => {
    const seen: string[] = [];
    const subjects = new Set<KeepaliveSubject>();
    const first: KeepaliveSubject = {
      checkKeepalive: () => {
        seen.push('first');
        subjects.delete(first);
        return Number.POSITIVE_INFINITY;
      },
    };
    subjects.add(first).add({ checkKeepalive: () => (seen.push('second'), Number.POSITIVE_INFINITY) });
    new KeepaliveSweep(subjects, fail).sweep(performance.now());
    expect(seen).toEqual(['first', 'second']);
    expect(subjects.size).toBe(1);
  });

  it('a check that throws is reported and the others are still checked, and still set the next deadline', () => {
    const failures: unknown[] = [];
    const t0 = performance.now();
    const ok = subject(t0 + 500);
    const subjects: KeepaliveSubject[] = [
      {
        checkKeepalive: () => {
          throw new Error('boom');
        },
      },
      ok,
    ];
    const sweep = new KeepaliveSweep(subjects, (err) => failures.push(err));
    sweep.start();
    expect(ok.checks).toHaveLength(1);
    expect(failures).toHaveLength(1);
    vi.advanceTimersByTime(501);
    expect(ok.checks).toHaveLength(2);
    sweep.stop();
  });
});
