import { describe, expect, it } from 'vitest';
import { Inflight, type Delivery } from '../../src/broker/inflight.js';
import type { Message } from '../../src/broker/message.js';
import { DiskBudget, MessageQueue, type QueuePaging } from '../../src/broker/queue.js';

function delivery(n: number, size = 1): Delivery {
  const message: Message = {
    id: n, topic: 't', payload: Buffer.alloc(size, n), qos: 1, retain: false, properties: undefined, expiresAt: undefined, origin: undefined,
  };
  return { message, qos: 1, retain: false, subscriptionIds: undefined, packetId: 0, state: 'publish', seq: n };
}

describe('Inflight', () => {
  it('allocates non-zero packet ids that are not in use, and wraps after 65535', () => {
    const inflight = new Inflight();
    const first = inflight.add(delivery(1));
    expect(first).toBe(1);
    for (let i = 2; i <= 65535; i++) inflight.add(delivery(i));
    expect(inflight.size).toBe(65535);
    expect(() => inflight.add(delivery(0))).toThrow(RangeError);
    inflight.delete(42);
    expect(inflight.add(delivery(0))).toBe(42);
  });

  it('keeps send order for redelivery', () => {
    const inflight = new Inflight();
    for (let i = 1; i <= 5; i++) inflight.add(delivery(i));
    inflight.delete(2);
    expect([...inflight.values()].map((d) => d.message.id)).toEqual([1, 3, 4, 5]);
  });
});

describe('MessageQueue', () => {
  it('drop-oldest keeps the newest messages within the count bound', () => {
    const q = new MessageQueue({ maxMessages: 3, maxBytes: 1000, policy: 'drop-oldest' });
    const dropped: number[] = [];
    for (let i = 1; i <= 5; i++) dropped.push(...q.add(delivery(i)).map((d) => d.message.id));
    expect(dropped).toEqual([1, 2]);
    expect(q.values().map((d) => d.message.id)).toEqual([3, 4, 5]);
  });

  it('drop-new refuses the new message when full', () => {
    const q = new MessageQueue({ maxMessages: 2, maxBytes: 1000, policy: 'drop-new' });
    q.add(delivery(1));
    q.add(delivery(2));
    expect(q.add(delivery(3)).map((d) => d.message.id)).toEqual([3]);
    expect(q.values().map((d) => d.message.id)).toEqual([1, 2]);
  });

  it('bounds payload bytes', () => {
    const q = new MessageQueue({ maxMessages: 100, maxBytes: 10, policy: 'drop-oldest' });
    q.add(delivery(1, 4));
    q.add(delivery(2, 4));
    expect(q.add(delivery(3, 4)).map((d) => d.message.id)).toEqual([1]);
    expect(q.bytes).toBe(8);
    expect(q.add(delivery(4, 11)).map((d) => d.message.id)).toEqual([4]);
  });

  it('shifts in FIFO order across compaction', () => {
    const q = new MessageQueue({ maxMessages: 10_000, maxBytes: 1e9, policy: 'drop-oldest' });
    for (let i = 0; i < 5000; i++) q.add(delivery(i));
    for (let i = 0; i < 4000; i++) expect(q.shift()?.message.id).toBe(i);
    expect(q.size).toBe(1000);
    expect(q.peek()?.message.id).toBe(4000);
  });
});

describe('MessageQueue under flow control', () => {
  it('is full at its bounds and relieved under half of them', () => {
    const q = new MessageQueue({ maxMessages: 4, maxBytes: 1000, policy: 'drop-oldest' });
    for (let i = 1; i <= 3; i++) q.add(delivery(i));
    expect(q.full()).toBe(false);
    q.add(delivery(4));
    expect(q.full()).toBe(true);
    q.shift();
    expect([q.full(), q.relieved()]).toEqual([false, false]);
    q.shift();
    expect(q.relieved()).toBe(true);
  });

  it('full and relieved count bytes too', () => {
    const q = new MessageQueue({ maxMessages: 100, maxBytes: 10, policy: 'drop-oldest' });
    q.add(delivery(1, 10));
    expect(q.full()).toBe(true);
    q.shift();
    q.add(delivery(2, 6));
    expect([q.full(), q.relieved()]).toEqual([false, false]);
  });

  it('a stretched add keeps up to twice the bounds, then the policy applies', () => {
    const q = new MessageQueue({ maxMessages: 2, maxBytes: 1000, policy: 'drop-new' });
    for (let i = 1; i <= 4; i++) expect(q.add(delivery(i), true)).toEqual([]);
    expect(q.add(delivery(5), true).map((d) => d.seq)).toEqual([5]);
    expect(q.size).toBe(4);
    // without stretching, the plain bound applies again
    expect(q.add(delivery(6)).map((d) => d.seq)).toEqual([6]);
  });
});

describe('MessageQueue with paging', () => {
  it('a page that arrives after the queue was cleared (the session ended) is not taken in: every delivery is drained once and the disk budget returns to 0', async () => {
    const budget = new DiskBudget(1_000_000);
    const disk = Array.from({ length: 10 }, (_, i) => delivery(i + 1, 10));
    let firstLoad: (() => void) | undefined;
    const paging: QueuePaging = {
      pageSize: 4,
      stores: () => true,
      budget,
      loaded: () => undefined,
      failed: (err) => {
        throw err;
      },
      load: (afterSeq, limit) => {
        const page = disk.filter((d) => d.seq > afterSeq).slice(0, limit);
        if (firstLoad !== undefined) return Promise.resolve(page);
        // The first page load stays pending until the test lets it go
        return new Promise((resolve) => (firstLoad = () => resolve(page)));
      },
    };
    const q = new MessageQueue({ maxMessages: 1000, maxBytes: 1_000_000, policy: 'drop-oldest' }, paging);
    for (const d of disk) q.add(d, false, { maxBytes: 1_000_000, budget });
    expect([q.memorySize, q.backlog]).toEqual([4, 6]);
    q.shift();
    q.shift(); // memory at half a page: the next page starts loading
    expect(firstLoad).toBeDefined();
    const seen = q.clear().map((d) => d.seq);
    const drained = q.drainBacklog((d) => seen.push(d.seq));
    firstLoad?.(); // the page load started before the session ended completes now
    await drained;
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual([3, 4, 5, 6, 7, 8, 9, 10]);
    expect([q.size, q.memorySize, q.bytes]).toEqual([0, 0, 0]);
    expect(budget.used).toBe(0);
  });
});
