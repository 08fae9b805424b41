import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { collect, connected, startBroker, until, type TestBroker } from '../helpers/broker.js';

const root = mkdtempSync(path.join(tmpdir(), 'midge-disk-queue-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let t: TestBroker | undefined;
let n = 0;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** A LevelDB broker whose queues keep 10 messages in memory; each 100-byte message is reckoned 200 bytes on disk. */
function start(options: Record<string, number>): Promise<TestBroker> {
  return startBroker({ store: 'level', dataDir: path.join(root, `d${n++}`), durability: 'batch', queuePageSize: 10, maxQueuedMessages: 10, ...options });
}

const PERSISTENT = { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 300 } } as const;

async function offlineSubscriber(clientId: string): Promise<void> {
  const sub = await (t as TestBroker).client({ ...PERSISTENT, clientId });
  await sub.subscribeAsync('disk/#', { qos: 1 });
  await sub.endAsync();
  await until(() => (t as TestBroker).broker.clientCount === 0, 'the subscriber to go offline');
}

async function publish(count: number): Promise<void> {
  const pub = await (t as TestBroker).client({ protocolVersion: 5 });
  const payload = (i: number) => `${i}`.padStart(100, '.');
  for (let i = 0; i < count; i += 50) await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, j) => pub.publishAsync('disk/t', payload(i + j), { qos: 1 })));
  await pub.endAsync();
}

describe('queues on disk (LevelDB store)', () => {
  it("a persistent session's queue is bounded by maxQueuedDiskBytes, not by maxQueuedMessages; the rest follows queueOverflow", async () => {
    t = await start({ maxQueuedDiskBytes: 100 * 200 });
    await offlineSubscriber('backend');
    await publish(300);
    expect(t.broker.session('backend')?.queued).toBe(100); // 10 in memory, the rest on disk
    expect(t.broker.session('backend')?.queuedInMemory).toBeLessThanOrEqual(10);
    expect(t.broker.stats.dropped['queue-full']).toBe(200);
    const back = t.open({ ...PERSISTENT, clientId: 'backend' });
    const got = collect(back);
    await connected(back);
    await got.waitFor(100, 10_000);
    // In order; with paging, drop-oldest drops the new message while the oldest are on disk only (a page is loading)
    const ids = got.messages.map((m) => Number(m.payload.replace(/^\.+/, '')));
    expect(ids).toHaveLength(100);
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    expect(new Set(ids).size).toBe(100);
  }, 30_000);

  it('queueDiskBudget bounds every queue together; each keeps at least its memory bounds', async () => {
    t = await start({ maxQueuedDiskBytes: 1024 * 1024, queueDiskBudget: 150 * 200 });
    await offlineSubscriber('a');
    await offlineSubscriber('b');
    await publish(300);
    const a = t.broker.session('a')?.queued ?? 0;
    const b = t.broker.session('b')?.queued ?? 0;
    expect(a).toBeGreaterThanOrEqual(10);
    expect(b).toBeGreaterThanOrEqual(10);
    expect(a + b).toBeLessThanOrEqual(150 + 20);
    expect(t.broker.stats.dropped['queue-full']).toBe(600 - a - b);
  }, 30_000);

  it('maxQueuedDiskBytes 0 bounds persistent sessions as in memory', async () => {
    t = await start({ maxQueuedDiskBytes: 0 });
    await offlineSubscriber('plain');
    await publish(30);
    expect(t.broker.session('plain')?.queued).toBe(10);
    expect(t.broker.stats.dropped['queue-full']).toBe(20);
  }, 30_000);
});
