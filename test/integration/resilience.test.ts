import { afterEach, describe, expect, it } from 'vitest';
import { isBrokerError, MemoryStore, type Message, type Plugin } from '../../src/index.js';
import { collect, nextDisconnect, startBroker, until, type TestBroker } from '../helpers/broker.js';

let t: TestBroker;
afterEach(async () => t?.close());

describe('wills across shutdown and restore', () => {
  it('[MQTT-3.1.2-8] a shutdown closes connections without DISCONNECT, so a retained will is published and restored', async () => {
    const store = new MemoryStore();
    t = await startBroker({ store });
    await t.client({
      protocolVersion: 4,
      clientId: 'sensor-1',
      will: { topic: 'status/sensor-1', payload: Buffer.from('offline'), qos: 1, retain: true },
    });
    await t.close();
    t = await startBroker({ store });
    expect(t.broker.retainedCount).toBe(1);
    const sub = await t.client({ protocolVersion: 4 });
    const got = collect(sub);
    await sub.subscribeAsync('status/#', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages[0]).toMatchObject({ topic: 'status/sensor-1', payload: 'offline' });
  });

  it('[MQTT-3.1.3-9] a will whose delay was running at shutdown is published after the restart when due', async () => {
    const store = new MemoryStore();
    t = await startBroker({ store });
    const client = await t.client({
      protocolVersion: 5,
      clientId: 'sensor-2',
      clean: false,
      properties: { sessionExpiryInterval: 60 },
      will: { topic: 'status/sensor-2', payload: Buffer.from('gone'), qos: 1, retain: true, properties: { willDelayInterval: 1 } },
    });
    client.stream.destroy(); // abnormal: the will delay starts
    await until(() => t.broker.clientCount === 0, 'client gone');
    await t.broker.close();
    t = await startBroker({ store });
    expect(t.broker.retainedCount).toBe(0);
    await until(() => t.broker.retainedCount === 1, 'will published after its delay', 4000);
  });
});

describe('one bad message does not disturb others', () => {
  it('broker.publish() refuses a message that cannot be encoded, before routing or retaining it', async () => {
    t = await startBroker();
    const bad = { topic: 'a', payload: 'x', retain: true, properties: { contentType: 5 as unknown as string } };
    const err = await t.broker.publish(bad).catch((e: unknown) => e);
    expect(isBrokerError(err, 'ERR_INVALID_MESSAGE')).toBe(true);
    expect(t.broker.retainedCount).toBe(0);
  });

  it('a transform that yields an unencodable message is dropped per subscriber and counted, the publisher stays', async () => {
    const dropped: string[] = [];
    const plugin: Plugin = {
      onPublish: (_client, message): Message =>
        message.topic === 'poison' ? { ...message, properties: { contentType: 5 as unknown as string } } : message,
      onDropped: (d) => dropped.push(d.reason),
    };
    t = await startBroker({ plugins: [plugin] });
    const sub = await t.client({ protocolVersion: 5 });
    const got = collect(sub);
    await sub.subscribeAsync(['poison', 'fine']);
    const pub = await t.client({ protocolVersion: 5 });
    await pub.publishAsync('poison', 'x', { qos: 1 });
    await pub.publishAsync('fine', 'y', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages.map((m) => m.topic)).toEqual(['fine']);
    expect(dropped).toEqual(['unencodable']);
    expect(t.broker.stats.dropped.unencodable).toBe(1);
    expect(pub.connected).toBe(true);
  });
});

describe('[MQTT-3.3.4-6] client PUBLISH with a Subscription Identifier', () => {
  it('is a Protocol Error: DISCONNECT 0x82', async () => {
    t = await startBroker();
    const pub = await t.client({ protocolVersion: 5 });
    const disconnect = nextDisconnect(pub);
    pub.publish('a', 'x', { properties: { subscriptionIdentifier: 3 } });
    expect((await disconnect).reasonCode).toBe(0x82);
  });
});

describe('nothing is dropped silently', () => {
  it('a QoS 0 message for an offline persistent session is not queued, and is counted as "offline"', async () => {
    const drops: string[] = [];
    t = await startBroker({ plugins: [{ onDropped: (d) => drops.push(`${d.clientId}:${d.reason}`) }] });
    const sub = await t.client({ protocolVersion: 4, clientId: 'away', clean: false });
    await sub.subscribeAsync('t', { qos: 1 });
    await sub.endAsync();
    await until(() => t.broker.clientCount === 0, 'subscriber gone');
    await t.broker.publish({ topic: 't', payload: 'q0', qos: 0 });
    await t.broker.publish({ topic: 't', payload: 'q1', qos: 1 });
    expect(drops).toEqual(['away:offline']);
    expect(t.broker.stats.dropped.offline).toBe(1);
  });
});
