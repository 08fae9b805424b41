/**
 * A representative part of the integration suite (qos, retained, will, mqtt5, topic aliases) run
 * against a 3-node cluster on one real nats-server, with each test's clients spread over the
 * nodes: the publisher on one node, subscribers on the others (and on its own). Shared
 * subscriptions are in shared.test.ts; sessions that move between nodes are not covered here.
 */
import type { IClientOptions, MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import { closed, collect, connected, sleep, until, type TestBroker } from '../helpers/broker.js';
import { hasNats, useNats } from '../helpers/cluster.js';

const env = useNats('cluster integration suite');
const v5 = { protocolVersion: 5 } as const;

/** Three fresh nodes with streams of their own (a new prefix per test). */
const cluster = async () => (await env.nodes(3, 'su')) as [TestBroker, TestBroker, TestBroker];

/** Interest travels to NATS asynchronously after SUBACK. */
const settle = () => sleep(250);

/** Closes the client's socket without DISCONNECT, as a crash or a lost network would. */
async function kill(client: MqttClient): Promise<void> {
  const gone = closed(client);
  client.stream.destroy();
  await gone;
}

describe.skipIf(!hasNats)('integration suite on a 3-node cluster (real nats-server)', () => {
  it('QoS 0/1/2: subscribers on every node, the publisher\'s own included, each get every message once at min(pub, sub) QoS', async () => {
    const [a, b, c] = await cluster();
    const subs = [await a.client({ ...v5, clientId: 'q-a' }), await b.client({ clientId: 'q-b' }), await c.client({ ...v5, clientId: 'q-c' })];
    const got = subs.map(collect);
    await subs[0]?.subscribeAsync('q/#', { qos: 2 });
    await subs[1]?.subscribeAsync('q/#', { qos: 1 });
    await subs[2]?.subscribeAsync('q/+', { qos: 2 });
    await settle();
    const pub = await a.client({ clientId: 'q-pub' });
    for (let i = 0; i < 12; i++) await pub.publishAsync('q/t', `m${i}`, { qos: (i % 3) as 0 | 1 | 2 });
    for (const g of got) await g.waitFor(12, 10_000);
    await sleep(300);
    const granted = [2, 1, 2];
    got.forEach((g, n) => {
      const index = g.messages.map((m) => Number(m.payload.slice(1)));
      expect([...index].sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i));
      // [MQTT-4.6.0-5] in order per topic and QoS (QoS 0 travels on a core subject, QoS 1/2 through JetStream, so they may interleave differently)
      for (const qos of [0, 1, 2]) {
        const sent = index.filter((i) => i % 3 === qos);
        expect(sent).toEqual([...sent].sort((x, y) => x - y));
      }
      for (const m of g.messages) expect(m.packet.qos).toBe(Math.min(Number(m.payload.slice(1)) % 3, granted[n] as number));
    });
  });

  it('[MQTT-3.3.1-6] a retained message keeps its QoS across nodes, and [MQTT-3.3.2-5] an expired one is not sent from any node', async () => {
    const [a, b, c] = await cluster();
    const pub = await a.client(v5);
    await pub.publishAsync('r/keep', 'kept', { qos: 2, retain: true });
    await pub.publishAsync('r/short', 'gone soon', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
    await until(() => b.broker.retainedCount === 2 && c.broker.retainedCount === 2, 'both retained on every node');
    await sleep(1300);
    for (const node of [b, c]) {
      const later = await node.client(v5);
      const got = collect(later);
      await later.subscribeAsync('r/#', { qos: 2 });
      await got.waitFor(1);
      await sleep(200);
      expect(got.messages.map((m) => [m.topic, m.payload, m.packet.retain, m.packet.qos])).toEqual([['r/keep', 'kept', true, 2]]);
    }
  });

  it.each([4, 5] as const)('[MQTT-3.1.2-8] a will (level %i) is published once to watchers on the other nodes when the connection closes abnormally; a retained will is cluster-wide', async (protocolVersion) => {
    const [a, b, c] = await cluster();
    const watchers = [await b.client(v5), await c.client(v5)];
    const got = watchers.map(collect);
    for (const w of watchers) await w.subscribeAsync('will/#', { qos: 2 });
    await settle();
    const will: NonNullable<IClientOptions['will']> = { topic: 'will/dev', payload: Buffer.from('offline'), qos: 1, retain: true };
    if (protocolVersion === 5) will.properties = { contentType: 'text/plain', userProperties: { site: 'x' } };
    const dev = await a.client({ protocolVersion, clientId: `dev${protocolVersion}`, will });
    await kill(dev);
    for (const g of got) await g.waitFor(1, 10_000);
    await sleep(300);
    for (const g of got) {
      expect(g.messages.map((m) => [m.topic, m.payload, m.packet.qos])).toEqual([['will/dev', 'offline', 1]]);
      if (protocolVersion === 5) expect(g.messages[0]?.packet.properties).toMatchObject({ contentType: 'text/plain', userProperties: { site: 'x' } });
    }
    await until(() => c.broker.retainedCount === 1, 'the retained will on node c');
  });

  it('[MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20] MQTT 5 properties pass through to another node unaltered', async () => {
    const [a, b] = await cluster();
    const sub = await b.client(v5);
    const got = collect(sub);
    await sub.subscribeAsync('props/t', { qos: 1 });
    await settle();
    const pub = await a.client(v5);
    const properties = {
      payloadFormatIndicator: true,
      contentType: 'application/json',
      responseTopic: 'props/reply',
      correlationData: Buffer.from([0, 1, 2, 0xff]),
      userProperties: { a: '1', multi: ['x', 'y'] },
    };
    await pub.publishAsync('props/t', '{"ok":true}', { qos: 1, properties });
    await got.waitFor(1);
    const p = got.messages[0]?.packet.properties;
    expect(p).toMatchObject({ payloadFormatIndicator: true, contentType: 'application/json', responseTopic: 'props/reply', userProperties: { a: '1', multi: ['x', 'y'] } });
    expect(Buffer.compare(p?.correlationData as Buffer, properties.correlationData)).toBe(0);
    expect(p?.messageExpiryInterval).toBeUndefined();
  });

  it('[MQTT-3.3.2-5] [MQTT-3.3.2-6] message expiry holds across nodes: an expired queued message is dropped, a live one carries the time left', async () => {
    const [a, b] = await cluster();
    const opts = { ...v5, clientId: 'exp-sub', clean: false, properties: { sessionExpiryInterval: 300 } };
    const sub = await b.client(opts);
    await sub.subscribeAsync('exp/#', { qos: 1 });
    await settle();
    await sub.endAsync();
    const pub = await a.client(v5);
    await pub.publishAsync('exp/short', 'stale', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await pub.publishAsync('exp/long', 'fresh', { qos: 1, properties: { messageExpiryInterval: 10 } });
    await pub.publishAsync('exp/none', 'forever', { qos: 1 });
    await until(() => b.broker.totals().queued === 3, 'three messages queued on node b', 10_000);
    await sleep(2100);
    const back = b.open(opts);
    const got = collect(back);
    await connected(back);
    await got.waitFor(2);
    await sleep(200);
    expect(got.messages.map((m) => m.payload)).toEqual(['fresh', 'forever']);
    const left = got.messages[0]?.packet.properties?.messageExpiryInterval as number;
    expect(left).toBeGreaterThanOrEqual(6);
    expect(left).toBeLessThanOrEqual(8);
    expect(b.broker.stats.dropped.expired).toBe(1);
  });

  it('[MQTT-3.3.2-12] topic aliases are per connection: an inbound alias on one node, outbound aliases on another, none where the client allows none', async () => {
    const [a, b, c] = await cluster();
    const aliased = await b.client({ ...v5, properties: { topicAliasMaximum: 4 } });
    const plain = await c.client(v5);
    // As read off the wire: mqtt.js later writes the resolved topic into the same packet object
    const onWire: [string, number | undefined][] = [];
    aliased.on('packetreceive', (p) => {
      if (p.cmd === 'publish') onWire.push([p.topic, p.properties?.topicAlias]);
    });
    const gotAliased = collect(aliased);
    const gotPlain = collect(plain);
    const plainWire: [string, number | undefined][] = [];
    plain.on('packetreceive', (p) => {
      if (p.cmd === 'publish') plainWire.push([p.topic, p.properties?.topicAlias]);
    });
    await aliased.subscribeAsync('alias/#', { qos: 1 });
    await plain.subscribeAsync('alias/#', { qos: 1 });
    await settle();
    const pub = await a.client(v5);
    await pub.publishAsync('alias/long/topic/name', 'first', { qos: 1, properties: { topicAlias: 3 } });
    await pub.publishAsync('', 'second', { qos: 1, properties: { topicAlias: 3 } });
    await gotAliased.waitFor(2);
    await gotPlain.waitFor(2);
    for (const g of [gotAliased, gotPlain]) {
      expect(g.messages.map((m) => [m.topic, m.payload])).toEqual([
        ['alias/long/topic/name', 'first'],
        ['alias/long/topic/name', 'second'],
      ]);
    }
    // Node b chose its own alias for its connection: the topic once, then the alias alone
    expect(onWire).toEqual([
      ['alias/long/topic/name', 1],
      ['', 1],
    ]);
    expect(plainWire).toEqual([
      ['alias/long/topic/name', undefined],
      ['alias/long/topic/name', undefined],
    ]);
  });
});
