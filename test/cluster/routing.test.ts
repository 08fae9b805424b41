import { describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { Engine } from '../helpers/engines.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { hasNats, until as untilWhat, useNats } from '../helpers/cluster.js';
import { createBroker } from '../../src/index.js';

const env = useNats('cluster tests');
/** Three nodes on one nats-server, each test with its own prefix (its own streams). */
const cluster = (count = 3) => env.nodes(count, 't');

/** Collects the payloads `client` receives on `topic`-matching subscriptions. */
function received(client: MqttClient): { topic: string; payload: string; retain: boolean; qos: number }[] {
  const got: { topic: string; payload: string; retain: boolean; qos: number }[] = [];
  client.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), retain: packet.retain, qos: packet.qos }));
  return got;
}

const until = (check: () => boolean, timeoutMs = 10_000) => untilWhat(check, 'condition', timeoutMs);

describe.skipIf(!hasNats)('cluster mode: routing across nodes (real nats-server)', () => {
  it('a message published on one node reaches matching subscribers on every node, QoS 0/1/2, in order, once each', async () => {
    const [a, b, c] = (await cluster()) as [TestBroker, TestBroker, TestBroker];
    const onB = await b.client({ clientId: 'sub-b' });
    const onC = await c.client({ clientId: 'sub-c', protocolVersion: 5 });
    // Overlapping filters on one node: each message once [MQTT-3.3.5-1]
    await onB.subscribeAsync({ 'room/+/temp': { qos: 2 }, 'room/#': { qos: 2 } });
    await onC.subscribeAsync('room/1/temp', { qos: 1 });
    const gotB = received(onB);
    const gotC = received(onC);
    await new Promise((r) => setTimeout(r, 200)); // interest reaches NATS
    const pub = await a.client({ clientId: 'pub-a' });
    const sent: string[] = [];
    for (let i = 0; i < 30; i++) {
      const qos = (i % 3) as 0 | 1 | 2;
      sent.push(`m${i}`);
      await pub.publishAsync('room/1/temp', `m${i}`, { qos });
    }
    await until(() => gotB.length >= 30 && gotC.length >= 30);
    await new Promise((r) => setTimeout(r, 300)); // nothing more arrives
    expect(gotB.map((m) => m.payload).sort()).toEqual([...sent].sort());
    expect(gotC.map((m) => m.payload).sort()).toEqual([...sent].sort());
    // In order per publisher, topic and QoS
    for (const got of [gotB, gotC]) {
      for (const qos of [0, 1, 2]) {
        const seq = got.filter((m) => Number(m.payload.slice(1)) % 3 === qos).map((m) => Number(m.payload.slice(1)));
        expect(seq).toEqual([...seq].sort((x, y) => x - y));
      }
    }
    expect(gotC.every((m) => m.qos === Math.min(1, Number(m.payload.slice(1)) % 3))).toBe(true);
  });

  it('topics with levels NATS cannot carry as they are (spaces, dots, empty levels, $) route exactly', async () => {
    const [a, b] = (await cluster(2)) as [TestBroker, TestBroker];
    const sub = await b.client({ clientId: 'odd-sub' });
    await sub.subscribeAsync({ 'a b/+/x.y': { qos: 1 }, '/#': { qos: 1 } });
    const got = received(sub);
    await new Promise((r) => setTimeout(r, 200));
    const pub = await a.client({ clientId: 'odd-pub' });
    for (const topic of ['a b/ü/x.y', 'a b//x.y', '/', '//z', 'a b/1/x_y', 'ab/1/x.y']) await pub.publishAsync(topic, topic, { qos: 1 });
    await until(() => got.length >= 4);
    await new Promise((r) => setTimeout(r, 300));
    expect(got.map((m) => m.topic).sort()).toEqual(['/', '//z', 'a b//x.y', 'a b/ü/x.y'].sort());
  });

  it('retained messages are cluster-wide: set on one node, read by a wildcard on another, cleared from a third', async () => {
    const [a, b, c] = (await cluster()) as [TestBroker, TestBroker, TestBroker];
    const pub = await a.client({ clientId: 'ret-pub' });
    await pub.publishAsync('site/1/state', 'on', { qos: 1, retain: true });
    await pub.publishAsync('site/2/state', 'off', { qos: 0, retain: true });
    await until(() => b.broker.retainedCount === 2 && c.broker.retainedCount === 2);
    const reader = await b.client({ clientId: 'ret-reader' });
    const got = received(reader);
    await reader.subscribeAsync('site/+/state', { qos: 1 });
    await until(() => got.length === 2);
    expect(got.map((m) => `${m.topic}=${m.payload}:${m.retain}`).sort()).toEqual(['site/1/state=on:true', 'site/2/state=off:true']);
    // [MQTT-3.3.1-10] an empty retained payload on a third node clears it everywhere
    const clearer = await c.client({ clientId: 'ret-clear' });
    await clearer.publishAsync('site/1/state', '', { qos: 1, retain: true });
    await until(() => a.broker.retainedCount === 1 && b.broker.retainedCount === 1 && c.broker.retainedCount === 1);
  });

  it('a node started later loads the cluster retained messages', async () => {
    const prefix = `late${Date.now() % 100000}`;
    const first = await env.node(prefix, 'x1');
    const pub = await first.client({ clientId: 'late-pub' });
    for (let i = 0; i < 5; i++) await pub.publishAsync(`late/${i}`, `v${i}`, { qos: 1, retain: true });
    await pub.publishAsync('late/0', '', { qos: 1, retain: true });
    const second = await env.node(prefix, 'x2');
    expect(second.broker.retainedCount).toBe(4);
    const sub = await second.client({ clientId: 'late-sub' });
    const got = received(sub);
    await sub.subscribeAsync('late/#', { qos: 1 });
    await until(() => got.length === 4);
    expect(got.map((m) => m.payload).sort()).toEqual(['v1', 'v2', 'v3', 'v4']);
  });

  it('the PUBACK of a QoS 1 message waits for JetStream: with NATS gone the publisher is not acknowledged', async () => {
    const own = await Engine.nats();
    await own.start();
    try {
      const node = env.track(await startBroker({ cluster: { servers: `nats://127.0.0.1:${own.port}`, nodeId: 'solo', prefix: 'ack' } }));
      const pub = await node.client({ clientId: 'ack-pub' });
      await pub.publishAsync('ack/t', 'stored', { qos: 1 });
      await own.kill();
      let acked = false;
      void pub.publishAsync('ack/t', 'not stored', { qos: 1 }).then(() => (acked = true), () => undefined);
      await new Promise((r) => setTimeout(r, 1500));
      expect(acked).toBe(false);
      // Meanwhile new clients are refused: 5.0 CONNACK 0x88 (Server unavailable), 3.1.1 return code 3
      await expect(node.client({ clientId: 'late5', protocolVersion: 5 })).rejects.toMatchObject({ code: 0x88 });
      await expect(node.client({ clientId: 'late4', protocolVersion: 4 })).rejects.toMatchObject({ code: 3 });
      // NATS returns: the append is retried with the same id and the PUBACK goes out
      await own.start();
      await until(() => acked, 20_000);
      await node.client({ clientId: 'back', protocolVersion: 5 });
    } finally {
      await own.destroy();
    }
  }, 40_000);

  it('two processes cannot both run with the same node id; the second refuses to start with a clear message', async () => {
    const prefix = `dup${Date.now() % 100000}`;
    const first = await env.node(prefix, 'same');
    const second = createBroker({ host: '127.0.0.1', port: 0, httpPort: -1, sysInterval: 0, logLevel: 'silent', store: 'memory', ...env.options(prefix, 'same') });
    await expect(second.listen()).rejects.toThrow(/node id same is held by a running process/);
    await second.close();
  }, 20_000);

  it('a node that closed cleanly gives its id back: a restart with the same id starts at once, as a new incarnation', async () => {
    const prefix = `re${Date.now() % 100000}`;
    const options = env.options(prefix, 'again');
    const first = await startBroker(options);
    await first.close();
    const started = Date.now();
    const second = await env.node(prefix, 'again');
    expect(Date.now() - started).toBeLessThan(2500);
  });
});
