import type { IPublishPacket, Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { collect, sleep, startBroker, until, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';

let t: TestBroker;
const raws: Wire[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.close();
  await t?.close();
});

const LEVELS = [4, 5] as const;
const QOS = [0, 1, 2] as const;

describe.each(LEVELS)('QoS end to end (level %i)', (protocolVersion) => {
  it.each(QOS)('QoS %i: publisher → broker → subscriber keeps the QoS and the payload', async (qos) => {
    t = await startBroker();
    const sub = await t.client({ protocolVersion });
    const got = collect(sub);
    const [grant] = await sub.subscribeAsync('e2e/t', { qos: 2 });
    expect(grant?.qos).toBe(2);
    const pub = await t.client({ protocolVersion });
    await pub.publishAsync('e2e/t', `payload at ${qos}`, { qos }); // resolves on PUBACK / PUBCOMP for QoS 1 / 2
    await got.waitFor(1);
    expect(got.messages[0]).toMatchObject({ topic: 'e2e/t', payload: `payload at ${qos}` });
    expect(got.messages[0]?.packet.qos).toBe(qos);
    expect(got.messages[0]?.packet.retain).toBe(false);
  });

  it.each([
    [2, 1, 1],
    [2, 0, 0],
    [0, 2, 0],
    [1, 2, 1],
    [1, 0, 0],
  ] as const)('[MQTT-3.8.4-8] published at QoS %i to a QoS %i subscription is delivered at QoS %i', async (pubQos, subQos, expected) => {
    t = await startBroker();
    const sub = await t.client({ protocolVersion });
    const got = collect(sub);
    await sub.subscribeAsync('min/t', { qos: subQos });
    const pub = await t.client({ protocolVersion });
    await pub.publishAsync('min/t', 'x', { qos: pubQos });
    await got.waitFor(1);
    expect(got.messages[0]?.packet.qos).toBe(expected);
  });

  it('QoS 2 is delivered exactly once per publication', async () => {
    t = await startBroker();
    const sub = await t.client({ protocolVersion });
    const got = collect(sub);
    await sub.subscribeAsync('once/t', { qos: 2 });
    const pub = await t.client({ protocolVersion });
    for (let i = 0; i < 20; i++) await pub.publishAsync('once/t', `m${i}`, { qos: 2 });
    await got.waitFor(20);
    await sleep(100);
    expect(got.messages.map((m) => m.payload)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
  });

  it('[MQTT-4.3.3-9] a QoS 2 PUBLISH resent with DUP=1 before PUBREL is acknowledged again but routed once', async () => {
    t = await startBroker();
    const sub = await t.client({ protocolVersion });
    const got = collect(sub);
    await sub.subscribeAsync('once/dup', { qos: 2 });
    const r = await Wire.open(t.port, protocolVersion);
    raws.push(r);
    await r.handshake();
    const publish = { cmd: 'publish', topic: 'once/dup', payload: Buffer.from('only once'), qos: 2, messageId: 7, retain: false };
    r.send({ ...publish, dup: false } as Packet);
    expect(await r.next('pubrec')).toMatchObject({ messageId: 7 });
    r.send({ ...publish, dup: true } as Packet); // as if the PUBREC had been lost
    expect(await r.next('pubrec')).toMatchObject({ messageId: 7 });
    r.send({ cmd: 'pubrel', messageId: 7 } as Packet);
    expect(await r.next('pubcomp')).toMatchObject({ messageId: 7 });
    await got.waitFor(1);
    await sleep(150);
    expect(got.messages.map((m) => m.payload)).toEqual(['only once']);
    // after PUBCOMP the id is free again: a new publication with id 7 is a new message
    r.send({ ...publish, payload: Buffer.from('second'), dup: false } as Packet);
    await r.next('pubrec');
    await got.waitFor(2);
    expect(got.messages.map((m) => m.payload)).toEqual(['only once', 'second']);
  });
});

describe.each(LEVELS)('overlapping subscriptions (level %i)', (protocolVersion) => {
  it.each([
    [1, 2],
    [2, 1],
  ] as const)("[MQTT-3.3.5-1] 'a/+' at QoS %i and 'a/#' at QoS %i: one delivery at the highest QoS", async (plusQos, hashQos) => {
    t = await startBroker();
    const sub = await t.client({ protocolVersion });
    const got = collect(sub);
    await sub.subscribeAsync({ 'a/+': { qos: plusQos }, 'a/#': { qos: hashQos } });
    const pub = await t.client({ protocolVersion });
    await pub.publishAsync('a/b', 'overlap', { qos: 2 });
    await got.waitFor(1);
    await sleep(100);
    expect(got.messages).toHaveLength(1);
    expect(got.messages[0]?.packet.qos).toBe(2);
  });

  it('one delivery when the same filter is subscribed twice (the second replaces the first)', async () => {
    t = await startBroker();
    const sub = await t.client({ protocolVersion });
    const got = collect(sub);
    await sub.subscribeAsync('twice/t', { qos: 2 });
    await sub.subscribeAsync('twice/t', { qos: 0 }); // [MQTT-3.8.4-3] replaces, with the new QoS
    const pub = await t.client({ protocolVersion });
    await pub.publishAsync('twice/t', 'x', { qos: 2 });
    await got.waitFor(1);
    await sleep(100);
    expect(got.messages).toHaveLength(1);
    expect(got.messages[0]?.packet.qos).toBe(0);
  });
});

describe('per-topic ordering', () => {
  it.each(LEVELS)('[MQTT-4.6.0-6] 1000 QoS 1 messages from one publisher arrive in order (level %i)', async (protocolVersion) => {
    t = await startBroker();
    const sub = await t.client({ protocolVersion });
    const got = collect(sub);
    await sub.subscribeAsync('order/t', { qos: 1 });
    const pub = await t.client({ protocolVersion });
    const sent = Array.from({ length: 1000 }, (_, i) => String(i));
    await Promise.all(sent.map((payload) => pub.publishAsync('order/t', payload, { qos: 1 })));
    await got.waitFor(1000, 15_000);
    expect(got.messages.map((m) => m.payload)).toEqual(sent);
    expect(got.messages.every((m) => m.packet.qos === 1)).toBe(true);
  });
});

describe('packet identifiers', () => {
  it('[MQTT-2.3.1-4] QoS 1 deliveries in flight at the same time carry distinct packet ids', async () => {
    t = await startBroker();
    const r = await Wire.open(t.port, 4);
    raws.push(r);
    await r.handshake();
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ids/t', qos: 1 }] } as Packet);
    await r.next('suback');
    const pub = await t.client({ protocolVersion: 4 });
    for (let i = 0; i < 50; i++) await pub.publishAsync('ids/t', `m${i}`, { qos: 1 });
    const publishes = () => r.packets.filter((p): p is IPublishPacket => p.cmd === 'publish');
    await until(() => publishes().length === 50, 'fifty PUBLISH packets');
    const ids = publishes().map((p) => p.messageId);
    expect(new Set(ids).size).toBe(50);
    expect(ids.every((id) => typeof id === 'number' && id > 0)).toBe(true);
  });
});
