import { describe, expect, it } from 'vitest';
import type { IConnackPacket, IDisconnectPacket, IPublishPacket } from 'mqtt-packet';
import { connackOf, type TestBroker } from '../helpers/broker.js';
import { hasNats, until, useNats } from '../helpers/cluster.js';

const env = useNats('cluster session tests');
const cluster = (count: number) => env.nodes(count, 's');
const wire = (node: TestBroker, version: 4 | 5 = 5) => env.wire(node, version);

describe.skipIf(!hasNats)('cluster mode: sessions across nodes (real nats-server)', () => {
  it('a persistent session moves to another node after a clean disconnect: session present, subscriptions, backlog in order then live', async () => {
    const [a, b, c] = (await cluster(3)) as [TestBroker, TestBroker, TestBroker];
    const sub = await a.client({ clientId: 'mover', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } });
    await sub.subscribeAsync('move/#', { qos: 1 });
    await sub.endAsync();
    const pub = await c.client({ clientId: 'mover-pub' });
    for (let i = 0; i < 20; i++) await pub.publishAsync('move/t', `m${i}`, { qos: 1 });

    const got: string[] = [];
    // Live messages published while the backlog is replayed come after it, never in between (aedes #649)
    const live = (async () => {
      for (let i = 20; i < 60; i++) await pub.publishAsync('move/t', `m${i}`, { qos: 1 });
    })();
    const back = b.open({ clientId: 'mover', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } });
    back.on('message', (_t, payload) => got.push(payload.toString()));
    await until(() => back.connected, 'reconnected to another node');
    expect(connackOf(back).sessionPresent).toBe(true);
    await live;
    await until(() => got.length >= 60, `60 messages (have ${got.length})`);
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual(Array.from({ length: 60 }, (_, i) => `m${i}`));
    // The node that held the session let it go: it no longer delivers to it
    expect(a.broker.session('mover')).toBeUndefined();
  }, 30_000);

  it('a backlog replayed on the subject of the session\'s one filter (a filtered consumer) holds its messages only, in order, among other topics', async () => {
    const [a, b, c] = (await cluster(3)) as [TestBroker, TestBroker, TestBroker];
    const sub = await a.client({ clientId: 'narrow', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } });
    await sub.subscribeAsync('room/+/temp', { qos: 1 });
    await sub.endAsync();
    const pub = await c.client({ clientId: 'narrow-pub' });
    const expected: string[] = [];
    for (let i = 0; i < 30; i++) {
      const topic = ['room/1/temp', 'room/2/hum', 'hall/1/temp', 'room/x y/temp', 'room/1/temp/raw'][i % 5] as string;
      await pub.publishAsync(topic, `${topic}#${i}`, { qos: 1 });
      if (topic === 'room/1/temp' || topic === 'room/x y/temp') expected.push(`${topic}#${i}`);
    }
    const got: string[] = [];
    const back = b.open({ clientId: 'narrow', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } });
    back.on('message', (_t, payload) => got.push(payload.toString()));
    await until(() => back.connected, 'reconnected to another node');
    await until(() => got.length >= expected.length, `${expected.length} messages (have ${got.length})`);
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual(expected);

    // Nothing on its subject since: the resume does not wait for a message that will not come
    await back.endAsync();
    for (let i = 0; i < 5; i++) await pub.publishAsync('room/2/hum', `other${i}`, { qos: 1 });
    const again = a.open({ clientId: 'narrow', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } });
    const extra: string[] = [];
    again.on('message', (_t, payload) => extra.push(payload.toString()));
    await until(() => again.connected, 'resumed with an empty backlog', 10_000);
    expect(connackOf(again).sessionPresent).toBe(true);
    await pub.publishAsync('room/1/temp', 'live', { qos: 1 });
    await until(() => extra.length >= 1, 'the live message');
    expect(extra).toEqual(['live']);
  }, 30_000);

  it('a backlog replayed for several filters (one ordered consumer per subject, merged by stream sequence) holds their messages only, in stream order, overlapping filters once', async () => {
    const [a, b, c] = (await cluster(3)) as [TestBroker, TestBroker, TestBroker];
    const sub = await a.client({ clientId: 'wide', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } });
    // room/1/+ overlaps room/+/temp on room/1/temp; hall/# is two subjects (hall and hall.>)
    await sub.subscribeAsync({ 'room/+/temp': { qos: 1 }, 'room/1/+': { qos: 1 }, 'hall/#': { qos: 1 } });
    await sub.endAsync();
    const pub = await c.client({ clientId: 'wide-pub' });
    const topics = ['room/1/temp', 'room/2/hum', 'hall', 'yard/1/temp', 'room/2/temp', 'hall/a/b', 'room/1/hum', 'room/1/temp/raw'];
    const wanted = new Set(['room/1/temp', 'hall', 'room/2/temp', 'hall/a/b', 'room/1/hum']);
    const expected: string[] = [];
    for (let i = 0; i < 40; i++) {
      const topic = topics[i % topics.length] as string;
      await pub.publishAsync(topic, `${topic}#${i}`, { qos: 1 });
      if (wanted.has(topic)) expected.push(`${topic}#${i}`);
    }
    const got: string[] = [];
    const back = b.open({ clientId: 'wide', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 300 } });
    back.on('message', (_t, payload) => got.push(payload.toString()));
    await until(() => back.connected, 'reconnected to another node');
    expect(connackOf(back).sessionPresent).toBe(true);
    await until(() => got.length >= expected.length, `${expected.length} messages (have ${got.length})`);
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual(expected);
    await pub.publishAsync('hall/x', 'live', { qos: 1 });
    await until(() => got.length > expected.length, 'the live message');
    expect(got.slice(expected.length)).toEqual(['live']);
  }, 30_000);

  it('[MQTT-3.1.4-3] a CONNECT on node B closes the connection on node A within 1 s with DISCONNECT 0x8E; the session continues on B', async () => {
    const [a, b] = (await cluster(2)) as [TestBroker, TestBroker];
    const first = await wire(a, 5);
    await first.connect('taken', { clean: false, properties: { sessionExpiryInterval: 300 } });
    await first.subscribe(1, [{ topic: 'take/#', qos: 1 }]);
    const second = await wire(b, 5);
    const started = Date.now();
    const connack = (await second.connect('taken', { clean: false, properties: { sessionExpiryInterval: 300 } })) as IConnackPacket;
    expect(connack.sessionPresent).toBe(true);
    const disconnect = (await first.next('disconnect', 2000)) as IDisconnectPacket;
    expect(disconnect.reasonCode).toBe(0x8e);
    await first.waitClosed(2000);
    expect(Date.now() - started).toBeLessThan(1000);
    // The subscription moved with the session
    const pub = await a.client({ clientId: 'take-pub' });
    await pub.publishAsync('take/x', 'after', { qos: 1 });
    const publish = (await second.next('publish', 5000)) as IPublishPacket;
    expect(publish.payload.toString()).toBe('after');
    expect(a.broker.session('taken')).toBeUndefined();
  }, 30_000);

  it('a clean session taken over from another node is not present, and the old connection is closed', async () => {
    const [a, b] = (await cluster(2)) as [TestBroker, TestBroker];
    const first = await wire(a, 4);
    await first.connect('clean-one');
    const second = await wire(b, 4);
    const connack = (await second.connect('clean-one')) as IConnackPacket;
    expect(connack.sessionPresent).toBe(false);
    await first.waitClosed(2000);
  }, 30_000);
});
