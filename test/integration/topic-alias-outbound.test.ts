import type { IPublishPacket, Packet } from 'mqtt-packet';
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { collect, sleep, startBroker, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';

let t: TestBroker;
const raws: Wire[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.close();
  await t?.close();
});

/** A raw MQTT 5 subscriber to `filter` that announces `connect.properties` in its CONNECT. */
async function rawSubscriber(filter: string, connect: Record<string, unknown> = {}, version = 5, qos: 0 | 1 = 0): Promise<Wire> {
  const c = await Wire.open(t.port, version);
  raws.push(c);
  await c.handshake(connect);
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] } as Packet);
  await c.next('suback');
  return c;
}

async function nextPublish(c: Wire): Promise<IPublishPacket> {
  return (await c.next('publish')) as IPublishPacket;
}

/** Publishes each topic in turn (QoS 0, in order) and reads as many PUBLISH packets from `c`. */
async function relay(pub: MqttClient, c: Wire, topics: string[]): Promise<IPublishPacket[]> {
  for (const [i, topic] of topics.entries()) pub.publish(topic, `m${i}`);
  const out: IPublishPacket[] = [];
  for (let i = 0; i < topics.length; i++) out.push(await nextPublish(c));
  return out;
}

const aliasOf = (p: IPublishPacket) => p.properties?.topicAlias;

describe('outbound topic aliases (MQTT 5 section 3.3.2.3.4)', () => {
  it('the first PUBLISH of a topic carries topic + alias 1, the next an empty topic + alias 1', async () => {
    t = await startBroker();
    const c = await rawSubscriber('ta/#', { properties: { topicAliasMaximum: 2 } });
    const pub = await t.client();
    const [first, second] = await relay(pub, c, ['ta/one', 'ta/one']);
    expect(first?.topic).toBe('ta/one');
    expect(first && aliasOf(first)).toBe(1);
    expect(second?.topic).toBe('');
    expect(second && aliasOf(second)).toBe(1);
    expect(second?.payload.toString()).toBe('m1');
  });

  it('with every alias in use, the least recently used one is reassigned with its new topic', async () => {
    t = await startBroker();
    const c = await rawSubscriber('lru/#', { properties: { topicAliasMaximum: 2 } });
    const pub = await t.client();
    const got = await relay(pub, c, ['lru/a', 'lru/b', 'lru/a', 'lru/c', 'lru/b', 'lru/c', 'lru/a']);
    expect(got.map((p) => [p.topic, aliasOf(p)])).toEqual([
      ['lru/a', 1],
      ['lru/b', 2],
      ['', 1], // a is now the most recently used
      ['lru/c', 2], // b was the least recently used: its alias goes to c
      ['lru/b', 1], // a was: its alias goes to b
      ['', 2],
      ['lru/a', 1], // b was older than c
    ]);
  });

  it('[MQTT-3.3.2-11] [MQTT-3.3.2-8] an alias is never 0 and never above the client maximum, and always resolves', async () => {
    t = await startBroker();
    const c = await rawSubscriber('max/#', { properties: { topicAliasMaximum: 3 } });
    const pub = await t.client();
    const topics = Array.from({ length: 60 }, (_, i) => `max/${(i * 7 + (i % 3)) % 8}`);
    const got = await relay(pub, c, topics);
    // Resolve as a client would, and check every message arrives under the topic it was published to
    const mapping = new Map<number, string>();
    const resolved = got.map((p) => {
      const alias = aliasOf(p);
      expect(alias).toBeGreaterThanOrEqual(1);
      expect(alias).toBeLessThanOrEqual(3);
      if (p.topic !== '') mapping.set(alias as number, p.topic);
      return mapping.get(alias as number);
    });
    expect(resolved).toEqual(topics);
    expect(got.some((p) => p.topic === '')).toBe(true);
  });

  it('[MQTT-3.1.2-27] no Topic Alias is sent when the client maximum is absent or 0', async () => {
    t = await startBroker();
    const absent = await rawSubscriber('none/#');
    const zero = await rawSubscriber('none/#', { properties: { topicAliasMaximum: 0 } });
    const v4 = await rawSubscriber('none/#', {}, 4);
    const pub = await t.client();
    for (const c of [absent, zero, v4]) {
      const got = await relay(pub, c, ['none/a', 'none/a']);
      for (const p of got) {
        expect(p.topic).toBe('none/a');
        expect(aliasOf(p)).toBeUndefined();
      }
    }
  });

  it('topicAliasOutbound: false sends no aliases even when the client allows them', async () => {
    t = await startBroker({ topicAliasOutbound: false });
    const c = await rawSubscriber('off/#', { properties: { topicAliasMaximum: 5 } });
    const pub = await t.client();
    for (const p of await relay(pub, c, ['off/a', 'off/a'])) {
      expect(p.topic).toBe('off/a');
      expect(aliasOf(p)).toBeUndefined();
    }
  });

  it('connections without aliases still receive the same message as those with them', async () => {
    t = await startBroker();
    const aliased = await rawSubscriber('mix/#', { properties: { topicAliasMaximum: 1 } });
    const plain = await rawSubscriber('mix/#');
    const pub = await t.client();
    pub.publish('mix/a', 'x');
    pub.publish('mix/a', 'y');
    const a = [await nextPublish(aliased), await nextPublish(aliased)];
    const p = [await nextPublish(plain), await nextPublish(plain)];
    expect(a.map((x) => [x.topic, aliasOf(x)])).toEqual([
      ['mix/a', 1],
      ['', 1],
    ]);
    expect(p.map((x) => [x.topic, aliasOf(x)])).toEqual([
      ['mix/a', undefined],
      ['mix/a', undefined],
    ]);
  });

  it('[MQTT-3.1.2-24] a PUBLISH too large for the client is not sent, and its alias is not taken as known', async () => {
    t = await startBroker();
    const c = await rawSubscriber('mps/#', { properties: { topicAliasMaximum: 2, maximumPacketSize: 64 } });
    const pub = await t.client();
    pub.publish('mps/t', 'x'.repeat(100)); // dropped: larger than 64 bytes
    pub.publish('mps/t', 'small');
    pub.publish('mps/t', 'again');
    const first = await nextPublish(c);
    expect(first.payload.toString()).toBe('small');
    expect([first.topic, aliasOf(first)]).toEqual(['mps/t', 1]);
    const second = await nextPublish(c);
    expect([second.topic, aliasOf(second)]).toEqual(['', 1]);
    expect(t.broker.stats.dropped['packet-too-large']).toBe(1);
  });

  it('[MQTT-3.3.2-7] aliases do not outlive the connection: a DUP retransmission on resume carries its topic', async () => {
    t = await startBroker();
    const connect = { clientId: 'alias-resume', clean: false, properties: { topicAliasMaximum: 2, sessionExpiryInterval: 60 } };
    const first = await rawSubscriber('rs/#', connect, 5, 1);
    const pub = await t.client();
    await pub.publishAsync('rs/t', 'one', { qos: 1 });
    await pub.publishAsync('rs/t', 'two', { qos: 1 });
    const sent = [await nextPublish(first), await nextPublish(first)]; // not acknowledged
    expect(sent.map((p) => [p.topic, aliasOf(p)])).toEqual([
      ['rs/t', 1],
      ['', 1],
    ]);
    first.close();
    await sleep(100);
    const again = await Wire.open(t.port, 5);
    raws.push(again);
    await again.handshake(connect);
    const resent = [await nextPublish(again), await nextPublish(again)];
    expect(resent.map((p) => [p.payload.toString(), p.dup, p.topic, aliasOf(p)])).toEqual([
      ['one', true, 'rs/t', 1],
      ['two', true, '', 1],
    ]);
  });

  it('over WebSocket, mqtt.js resolves the aliases and gets every message under its topic', async () => {
    t = await startBroker();
    const sub = await t.client({ ws: true, protocolVersion: 5, properties: { topicAliasMaximum: 2 } });
    const got = collect(sub);
    await sub.subscribeAsync('ws/#', { qos: 1 });
    const pub = await t.client({ ws: true, protocolVersion: 5 });
    const topics = ['ws/a', 'ws/b', 'ws/a', 'ws/c', 'ws/a', 'ws/b', 'ws/c', 'ws/c'];
    for (const [i, topic] of topics.entries()) await pub.publishAsync(topic, `m${i}`, { qos: i % 2 === 0 ? 0 : 1 });
    await got.waitFor(topics.length);
    expect(got.messages.map((m) => `${m.topic}=${m.payload}`)).toEqual(topics.map((topic, i) => `${topic}=m${i}`));
    // mqtt.js keeps the alias it resolved: every message came with one, within the client maximum
    const aliases = got.messages.map((m) => m.packet.properties?.topicAlias);
    for (const alias of aliases) expect(alias !== undefined && alias >= 1 && alias <= 2).toBe(true);
  });
});
