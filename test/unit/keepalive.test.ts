import { afterEach, describe, expect, it, vi } from 'vitest';
import { KEEPALIVE_SWEEP_MS, KeepaliveSweep, type KeepaliveSubject } from '../../src/connection/keepalive.js';

describe('KeepaliveSweep', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('checks every subject of the live collection at each sweep', () => {
    vi.useFakeTimers();
    const checked: number[][] = [[], []];
    const subjects = new Set<KeepaliveSubject>([{ checkKeepalive: (now) => checked[0]?.push(now) }]);
    const sweep = new KeepaliveSweep(subjects, (err) => {
      throw err;
    });
    sweep.start();
    sweep.start(); // idempotent: still one timer
    vi.advanceTimersByTime(KEEPALIVE_SWEEP_MS);
    subjects.add({ checkKeepalive: (now) => checked[1]?.push(now) }); // added later, seen at the next sweep
    vi.advanceTimersByTime(KEEPALIVE_SWEEP_MS);
    expect(checked[0]).toHaveLength(2);
    expect(checked[1]).toHaveLength(1);
    sweep.stop();
    vi.advanceTimersByTime(KEEPALIVE_SWEEP_MS * 4);
    expect(checked[0]).toHaveLength(2);
  });

  it('a subject removed during a sweep does not stop the others from being checked', () => {
    const seen: string[] = [];
    const subjects = new Set<KeepaliveSubject>();
    const first: KeepaliveSubject = { checkKeepalive: () => { seen.push('first'); subjects.delete(first); } };
    subjects.add(first).add({ checkKeepalive: () => seen.push('second') });
    new KeepaliveSweep(subjects, (err) => {
      throw err;
    }).sweep(performance.now());
    expect(seen).toEqual(['first', 'second']);
    expect(subjects.size).toBe(1);
  });

  it('a check that throws is reported and the others are still checked', () => {
    const failures: unknown[] = [];
    let checked = 0;
    const subjects = [
      { checkKeepalive: () => { throw new Error('boom'); } },
      { checkKeepalive: () => { checked++; } },
    ];
    new KeepaliveSweep(subjects, (err) => failures.push(err)).sweep(performance.now());
    expect(checked).toBe(1);
    expect(failures).toHaveLength(1);
  });
});
