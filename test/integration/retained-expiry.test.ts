import { afterEach, describe, expect, it } from 'vitest';
import type { Drop } from '../../src/index.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';

let tb: TestBroker | undefined;
afterEach(async () => {
  await tb?.close();
  tb = undefined;
});

describe('[MQTT-3.3.2-5] expired retained messages', () => {
  it('are removed from the retained store and counted even when nobody subscribes', async () => {
    const drops: Drop[] = [];
    tb = await startBroker({ plugins: [{ onDropped: (d) => void drops.push(d) }] });
    const pub = await tb.client({ protocolVersion: 5 });
    await pub.publishAsync('status/a', 'short-lived', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
    await pub.publishAsync('status/b', 'kept', { qos: 1, retain: true });
    expect(tb.broker.retainedCount).toBe(2);
    await new Promise((r) => setTimeout(r, 2300));
    expect(tb.broker.retainedCount).toBe(1);
    expect(tb.broker.stats.dropped.expired).toBe(1);
    expect(drops.map((d) => [d.reason, d.message.topic])).toEqual([['expired', 'status/a']]);
    const sub = await tb.client({ protocolVersion: 5 });
    const got: string[] = [];
    sub.on('message', (topic) => got.push(topic));
    await sub.subscribeAsync('status/#', { qos: 1 });
    await new Promise((r) => setTimeout(r, 200));
    expect(got).toEqual(['status/b']);
  });

  it('a retained message replaced by one without expiry is not removed', async () => {
    tb = await startBroker();
    const pub = await tb.client({ protocolVersion: 5 });
    await pub.publishAsync('status/c', 'v1', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
    await pub.publishAsync('status/c', 'v2', { qos: 1, retain: true });
    await new Promise((r) => setTimeout(r, 2300));
    expect(tb.broker.retainedCount).toBe(1);
    expect(tb.broker.stats.dropped.expired).toBe(0);
  });
});
