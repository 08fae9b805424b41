import { afterEach, describe, expect, it } from 'vitest';
import { collect, sleep, startBroker, until, type TestBroker } from '../helpers/broker.js';

let t: TestBroker;
afterEach(async () => t?.close());

const LEVELS = [4, 5] as const;

describe.each(LEVELS)('retained messages (level %i)', (protocolVersion) => {
  it('[MQTT-3.3.1-5] a retained message is stored and sent to a later subscriber with RETAIN=1 [MQTT-3.3.1-8]', async () => {
    t = await startBroker();
    const pub = await t.client({ protocolVersion });
    await pub.publishAsync('ret/a', 'stored', { qos: 1, retain: true });
    expect(t.broker.retainedCount).toBe(1);
    const sub = await t.client({ protocolVersion });
    const got = collect(sub);
    await sub.subscribeAsync('ret/a', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages[0]).toMatchObject({ topic: 'ret/a', payload: 'stored' });
    expect(got.messages[0]?.packet.retain).toBe(true);
    expect(got.messages[0]?.packet.qos).toBe(1);
  });

  it('[MQTT-3.3.1-6] a wildcard subscription receives the retained message of every matching topic', async () => {
    t = await startBroker();
    const pub = await t.client({ protocolVersion });
    await pub.publishAsync('ret/x/1', 'one', { retain: true, qos: 1 });
    await pub.publishAsync('ret/x/2', 'two', { retain: true, qos: 1 });
    await pub.publishAsync('ret/y/1', 'other', { retain: true, qos: 1 });
    const sub = await t.client({ protocolVersion });
    const got = collect(sub);
    await sub.subscribeAsync('ret/x/+', { qos: 0 });
    await got.waitFor(2);
    await sleep(100);
    expect(got.messages.map((m) => `${m.topic}=${m.payload}`).sort()).toEqual(['ret/x/1=one', 'ret/x/2=two']);
    expect(got.messages.every((m) => m.packet.retain)).toBe(true);
  });

  it('[MQTT-3.3.1-7] a new retained message replaces the previous one', async () => {
    t = await startBroker();
    const pub = await t.client({ protocolVersion });
    await pub.publishAsync('ret/r', 'v1', { qos: 1, retain: true });
    await pub.publishAsync('ret/r', 'v2', { qos: 1, retain: true });
    expect(t.broker.retainedCount).toBe(1);
    const sub = await t.client({ protocolVersion });
    const got = collect(sub);
    await sub.subscribeAsync('ret/r', { qos: 1 });
    await got.waitFor(1);
    await sleep(100);
    expect(got.messages.map((m) => m.payload)).toEqual(['v2']);
  });

  it('[MQTT-3.3.1-10] [MQTT-3.3.1-11] an empty retained payload clears the topic and is not stored', async () => {
    t = await startBroker();
    const existing = await t.client({ protocolVersion });
    const live = collect(existing);
    await existing.subscribeAsync('ret/c', { qos: 1 });
    const pub = await t.client({ protocolVersion });
    await pub.publishAsync('ret/c', 'soon gone', { qos: 1, retain: true });
    await pub.publishAsync('ret/c', '', { qos: 1, retain: true });
    expect(t.broker.retainedCount).toBe(0);
    // the empty message is still routed as normal to existing subscribers
    await live.waitFor(2);
    expect(live.messages.map((m) => m.payload)).toEqual(['soon gone', '']);
    const later = await t.client({ protocolVersion });
    const got = collect(later);
    await later.subscribeAsync('ret/c', { qos: 1 });
    await sleep(150);
    expect(got.messages).toEqual([]);
  });

  it('[MQTT-3.3.1-9] a message forwarded to an existing subscription has RETAIN=0 (no Retain As Published)', async () => {
    t = await startBroker();
    const sub = await t.client({ protocolVersion });
    const got = collect(sub);
    await sub.subscribeAsync('ret/live', { qos: 1 });
    const pub = await t.client({ protocolVersion });
    await pub.publishAsync('ret/live', 'fresh', { qos: 1, retain: true });
    await got.waitFor(1);
    expect(got.messages[0]?.packet.retain).toBe(false);
  });

  it('the retained message is delivered at the lower of its QoS and the subscription QoS', async () => {
    t = await startBroker();
    const pub = await t.client({ protocolVersion });
    await pub.publishAsync('ret/q2', 'two', { qos: 2, retain: true });
    await pub.publishAsync('ret/q0', 'zero', { qos: 0, retain: true });
    await until(() => t.broker.retainedCount === 2, 'two retained messages');
    const sub = await t.client({ protocolVersion });
    const got = collect(sub);
    await sub.subscribeAsync({ 'ret/q2': { qos: 1 }, 'ret/q0': { qos: 2 } });
    await got.waitFor(2);
    const qos = Object.fromEntries(got.messages.map((m) => [m.topic, m.packet.qos]));
    expect(qos).toEqual({ 'ret/q2': 1, 'ret/q0': 0 });
  });

  it('[MQTT-4.7.2-1] retained messages on $-topics are not sent for a leading wildcard', async () => {
    t = await startBroker();
    const pub = await t.client({ protocolVersion });
    await pub.publishAsync('$app/state', 'hidden', { qos: 1, retain: true });
    await pub.publishAsync('app/state', 'visible', { qos: 1, retain: true });
    const sub = await t.client({ protocolVersion });
    const got = collect(sub);
    await sub.subscribeAsync('#', { qos: 1 });
    await got.waitFor(1);
    await sub.subscribeAsync('+/state', { qos: 1 });
    await got.waitFor(2);
    await sleep(150);
    // one retained message per SUBSCRIBE, never the '$' one
    expect(got.messages.map((m) => m.topic)).toEqual(['app/state', 'app/state']);
    const dollar = await t.client({ protocolVersion });
    const got2 = collect(dollar);
    await dollar.subscribeAsync('$app/#', { qos: 1 });
    await got2.waitFor(1);
    expect(got2.messages.map((m) => m.payload)).toEqual(['hidden']);
  });
});

describe('MQTT 5 retain options', () => {
  it('[MQTT-3.3.1-12] [MQTT-3.3.1-13] Retain As Published keeps RETAIN=1 on normal delivery; without it RETAIN=0', async () => {
    t = await startBroker();
    const sub = await t.client({ protocolVersion: 5 });
    const got = collect(sub);
    await sub.subscribeAsync('rap/on', { qos: 1, rap: true });
    await sub.subscribeAsync('rap/off', { qos: 1, rap: false });
    const pub = await t.client({ protocolVersion: 5 });
    await pub.publishAsync('rap/on', 'a', { qos: 1, retain: true });
    await pub.publishAsync('rap/off', 'b', { qos: 1, retain: true });
    await pub.publishAsync('rap/on', 'c', { qos: 1, retain: false });
    await got.waitFor(3);
    expect(got.messages.map((m) => [m.payload, m.packet.retain])).toEqual([
      ['a', true],
      ['b', false],
      ['c', false],
    ]);
  });

  it('[MQTT-3.3.1-9] Retain Handling 0 sends the retained messages on every SUBSCRIBE', async () => {
    t = await startBroker();
    await (await t.client({ protocolVersion: 5 })).publishAsync('rh/0', 'r', { qos: 1, retain: true });
    const sub = await t.client({ protocolVersion: 5 });
    const got = collect(sub);
    await sub.subscribeAsync('rh/0', { qos: 1, rh: 0 });
    await got.waitFor(1);
    await sub.subscribeAsync('rh/0', { qos: 1, rh: 0 });
    await got.waitFor(2);
    expect(got.messages.every((m) => m.packet.retain)).toBe(true);
  });

  it('[MQTT-3.3.1-10] Retain Handling 1 sends the retained messages only when the subscription is new', async () => {
    t = await startBroker();
    await (await t.client({ protocolVersion: 5 })).publishAsync('rh/1', 'r', { qos: 1, retain: true });
    const sub = await t.client({ protocolVersion: 5 });
    const got = collect(sub);
    await sub.subscribeAsync('rh/1', { qos: 1, rh: 1 });
    await got.waitFor(1);
    await sub.subscribeAsync('rh/1', { qos: 1, rh: 1 }); // replaces an existing subscription: nothing sent
    await sleep(150);
    expect(got.messages).toHaveLength(1);
  });

  it('[MQTT-3.3.1-11] Retain Handling 2 never sends the retained messages', async () => {
    t = await startBroker();
    const pub = await t.client({ protocolVersion: 5 });
    await pub.publishAsync('rh/2', 'r', { qos: 1, retain: true });
    const sub = await t.client({ protocolVersion: 5 });
    const got = collect(sub);
    await sub.subscribeAsync('rh/2', { qos: 1, rh: 2 });
    await sleep(150);
    expect(got.messages).toHaveLength(0);
    // but live messages still flow
    await pub.publishAsync('rh/2', 'live', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages[0]?.payload).toBe('live');
  });

  it('[MQTT-4.8.2] retained messages are not sent for a shared subscription', async () => {
    t = await startBroker();
    await (await t.client({ protocolVersion: 5 })).publishAsync('shr/r', 'r', { qos: 1, retain: true });
    const sub = await t.client({ protocolVersion: 5 });
    const got = collect(sub);
    await sub.subscribeAsync('$share/g/shr/r', { qos: 1 });
    await sleep(150);
    expect(got.messages).toHaveLength(0);
  });
});

describe('programmatic publish', () => {
  it('broker.publish() reaches subscribers at the requested QoS', async () => {
    t = await startBroker();
    const v4 = await t.client({ protocolVersion: 4 });
    const v5 = await t.client({ protocolVersion: 5 });
    const got4 = collect(v4);
    const got5 = collect(v5);
    await v4.subscribeAsync('api/+', { qos: 2 });
    await v5.subscribeAsync('api/+', { qos: 2 });
    await t.broker.publish({ topic: 'api/x', payload: 'from the broker', qos: 1, properties: { contentType: 'text/plain' } });
    await Promise.all([got4.waitFor(1), got5.waitFor(1)]);
    expect(got4.messages[0]).toMatchObject({ topic: 'api/x', payload: 'from the broker' });
    expect(got4.messages[0]?.packet.qos).toBe(1);
    expect(got5.messages[0]?.packet.properties?.contentType).toBe('text/plain');
  });

  it('broker.publish() with retain stores the message for later subscribers', async () => {
    t = await startBroker();
    await t.broker.publish({ topic: 'api/state', payload: Buffer.from('on'), qos: 1, retain: true });
    expect(t.broker.retainedCount).toBe(1);
    const sub = await t.client({ protocolVersion: 4 });
    const got = collect(sub);
    await sub.subscribeAsync('api/#', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages[0]).toMatchObject({ topic: 'api/state', payload: 'on' });
    expect(got.messages[0]?.packet.retain).toBe(true);
    await t.broker.publish({ topic: 'api/state', payload: '', retain: true });
    expect(t.broker.retainedCount).toBe(0);
  });

  it('broker.publish() refuses a topic with wildcards', async () => {
    t = await startBroker();
    await expect(t.broker.publish({ topic: 'a/+', payload: 'x' })).rejects.toMatchObject({ code: 'ERR_TOPIC_NAME_INVALID' });
  });
});
