import { setTimeout as sleep } from 'node:timers/promises';

/** Polls `ready` every `intervalMs` until it is true or `timeoutMs` passed; resolves whether it became true. */
export async function waitUntil(ready: () => boolean, timeoutMs: number, intervalMs = 20): Promise<boolean> {
  const attempts = Math.max(1, Math.ceil(timeoutMs / intervalMs));
  for (let i = 0; i < attempts; i++) {
    if (ready()) return true;
    await sleep(intervalMs);
  }
  return ready();
}

/**
 * Polls `ready` every `intervalMs` until it is true, until `progress()` has not moved for `idleMs`,
 * or until `capMs` passed; resolves whether it became true. A drain that is slow but moving (a
 * loaded machine, a subscriber paced by flow control) is waited for; a stuck one ends after `idleMs`.
 */
export async function waitWhileMoving(ready: () => boolean, progress: () => number, idleMs: number, capMs: number, intervalMs = 20): Promise<boolean> {
  const start = Date.now();
  let last = progress();
  let movedAt = start;
  while (!ready()) {
    const now = Date.now();
    if (now - movedAt >= idleMs || now - start >= capMs) return ready();
    await sleep(intervalMs);
    const current = progress();
    if (current !== last) {
      last = current;
      movedAt = Date.now();
    }
  }
  return true;
}

/** Resolves after `ms` milliseconds. */
export function pause(ms: number): Promise<void> {
  return sleep(ms);
}
