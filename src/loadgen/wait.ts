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

/** Resolves after `ms` milliseconds. */
export function pause(ms: number): Promise<void> {
  return sleep(ms);
}
