import { describe, expect, it } from 'vitest';
import { Stats } from '../../src/broker/stats.js';
import { History } from '../../src/metrics/history.js';

describe('History (the dashboard charts)', () => {
  it('turns counters into per-second rates per interval, with connections at the end of each', () => {
    const stats = new Stats();
    let connections = 2;
    const history = new History(stats, () => connections, 5000, 3);
    const t0 = Date.now();
    stats.messagesReceivedByQos[0] += 10;
    stats.messagesReceivedByQos[1] += 15;
    stats.messagesSentByQos[2] += 50;
    stats.dropped['queue-full'] += 5;
    history.sample(t0 + 5000);
    connections = 3;
    history.sample(t0 + 10_000);
    const [first, second] = history.samples(t0 + 10_000);
    expect(first).toEqual({ time: t0 + 5000, messagesIn: 5, messagesOut: 10, connections: 2, dropped: 1 });
    expect(second).toEqual({ time: t0 + 10_000, messagesIn: 0, messagesOut: 0, connections: 3, dropped: 0 });
  });

  it('keeps at most `size` samples, oldest dropped first, and adds the interval running now after a second', () => {
    const stats = new Stats();
    const history = new History(stats, () => 0, 1000, 3);
    const t0 = Date.now();
    for (let i = 1; i <= 5; i++) history.sample(t0 + i * 1000);
    expect(history.samples(t0 + 5000).map((s) => s.time)).toEqual([t0 + 3000, t0 + 4000, t0 + 5000]);
    stats.messagesSentByQos[0] += 4;
    const now = history.samples(t0 + 7000);
    expect(now).toHaveLength(4);
    expect(now[3]).toMatchObject({ time: t0 + 7000, messagesOut: 2 });
    expect(history.samples(t0 + 5500)).toHaveLength(3);
  });
});
