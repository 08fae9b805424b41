/** Message expiry of queued messages, checked on the raw frames the broker sends (MQTT 5). */
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { collect, sleep } from '../helpers/broker.js';
import type { Wire } from '../helpers/wire.js';
import { WireHarness } from './harness.js';

const w = new WireHarness();
afterEach(() => w.cleanup());

async function subscribe(c: Wire, topic: string, qos: 0 | 1 | 2): Promise<void> {
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] } as Packet);
  await c.next('suback');
}

describe('message expiry of a queued QoS 0 message', () => {
  it('[MQTT-3.3.2-6] a QoS 0 message queued behind a full window is sent with the decremented expiry interval', async () => {
    const tb = await w.start();
    // a second 5.0 subscriber gets the message at once, so its encoding is the broker's most recent one
    const prompt = await tb.client({ protocolVersion: 5 });
    const promptGot = collect(prompt);
    await prompt.subscribeAsync('exp/#', { qos: 0 });
    // the slow subscriber has room for one QoS 1 message
    const { c: slow } = await w.connected(5, { clientId: 'slow', properties: { receiveMaximum: 1 } });
    await subscribe(slow, 'exp/#', 1);

    const pub = await tb.client({ protocolVersion: 5 });
    await pub.publishAsync('exp/1', 'first', { qos: 1 }); // in flight, never acknowledged yet
    await pub.publishAsync('exp/2', 'second', { qos: 1 }); // queued: the window is full
    await pub.publishAsync('exp/3', 'short-lived', { qos: 0, properties: { messageExpiryInterval: 10 } }); // queued behind
    await promptGot.waitFor(3);
    expect(promptGot.messages[2]?.packet.properties?.messageExpiryInterval).toBe(10);
    const first = await slow.next('publish');
    expect((first as IPublishPacket).payload.toString()).toBe('first');

    await sleep(2100);
    slow.send({ cmd: 'puback', messageId: (first as IPublishPacket).messageId } as Packet);
    const second = (await slow.next('publish')) as IPublishPacket;
    const third = (await slow.next('publish')) as IPublishPacket;
    expect(second.payload.toString()).toBe('second');
    expect(third.payload.toString()).toBe('short-lived');
    expect(third.qos).toBe(0);
    expect(third.properties?.messageExpiryInterval).toBeLessThanOrEqual(8);
    expect(third.properties?.messageExpiryInterval).toBeGreaterThanOrEqual(7);
  });
});
