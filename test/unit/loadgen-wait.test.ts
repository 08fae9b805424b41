import { describe, expect, it } from 'vitest';
import { waitWhileMoving } from '../../src/loadgen/wait.js';

describe('loadgen drain wait (waitWhileMoving)', () => {
  it('waits past the idle time while progress keeps moving, and resolves true once ready', async () => {
    // Progress moves at every poll (however late the timers run on a loaded machine)
    let polls = 0;
    const start = Date.now();
    expect(await waitWhileMoving(() => polls >= 60, () => ++polls, 100, 60_000, 5)).toBe(true);
    // 60 polls 5 ms apart: longer than the 100 ms idle time, which never ran out because it moved
    expect(Date.now() - start).toBeGreaterThanOrEqual(250);
  });

  it('ends after the idle time when progress stops, resolving false', async () => {
    const start = Date.now();
    expect(await waitWhileMoving(() => false, () => 7, 100, 10_000, 5)).toBe(false);
    expect(Date.now() - start).toBeLessThan(5000);
  });

  it('ends at the cap even while progress still moves', async () => {
    let polls = 0;
    const start = Date.now();
    expect(await waitWhileMoving(() => false, () => ++polls, 60_000, 200, 5)).toBe(false);
    expect(Date.now() - start).toBeLessThan(30_000);
  });
});
