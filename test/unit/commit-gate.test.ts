import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { CommitGate, type HoldTarget } from '../../src/broker/persistence/commit-gate.js';
import { LevelStore } from '../../src/store/level.js';
import { GatedStore } from '../helpers/gated-store.js';

const root = mkdtempSync(path.join(tmpdir(), 'midge-gate-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Records what the gate hands out, in order. */
function recorder(): { log: string[]; acks: { send(c: string, a: string): void; refuse(c: string, a: string): void }; target: HoldTarget<string> } {
  const log: string[] = [];
  return {
    log,
    acks: { send: (c, a) => log.push(`ack ${c} ${a}`), refuse: (c, a) => log.push(`refused ${c} ${a}`) },
    target: { release: (h) => log.push(`release ${h}`), retry: (h) => log.push(`retry ${h}`) },
  };
}

describe('CommitGate', () => {
  it('releases after the commit: acknowledgements first, then held sends, each in arrival order', async () => {
    const store = new LevelStore(path.join(root, 'a'));
    await store.open();
    const { log, acks, target } = recorder();
    const gate = new CommitGate<string, string, string>(store, acks);
    gate.hold(target, 'p1');
    gate.ack('c1', 'puback');
    gate.hold(target, 'p2');
    gate.ack('c2', 'pubrec');
    expect(log, 'nothing before the commit').toEqual([]);
    await store.flush();
    await Promise.resolve();
    expect(log).toEqual(['ack c1 puback', 'ack c2 pubrec', 'release p1', 'release p2']);
    await store.close();
  });

  it('what arrives while a commit runs waits for the next one', async () => {
    const store = new LevelStore(path.join(root, 'b'));
    await store.open();
    const { log, acks, target } = recorder();
    const gate = new CommitGate<string, string, string>(store, acks);
    store.saveMessageIdFloor(10);
    gate.hold(target, 'first');
    // Let the first commit start, then add to the gate while it is running
    await new Promise((resolve) => setImmediate(resolve));
    store.saveMessageIdFloor(20);
    gate.hold(target, 'second');
    expect(log).toEqual([]);
    await store.flush();
    await Promise.resolve();
    expect(log).toEqual(['release first', 'release second']);
    await store.close();
  });

  it('a failed commit refuses its acknowledgements and retries its held sends later, never releases them', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const store = new GatedStore();
      const { log, acks, target } = recorder();
      const gate = new CommitGate<string, string, string>(store, acks);
      gate.ack('c1', 'puback');
      gate.hold(target, 'p1');
      store.fail();
      await Promise.resolve();
      await Promise.resolve();
      expect(log).toEqual(['refused c1 puback']);
      vi.advanceTimersByTime(1000);
      expect(log).toEqual(['refused c1 puback', 'retry p1']);
      gate.stop();
    } finally {
      vi.useRealTimers();
    }
  });
});
