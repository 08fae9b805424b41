import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { IConnackPacket, IDisconnectPacket, IPublishPacket } from 'mqtt-packet';
import { Engine, installed } from '../helpers/engines.js';
import { connackOf, startBroker, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';

const hasNats = installed('nats-server');
if (!hasNats) console.warn('SKIPPED: nats-server is not installed (apt-get install nats-server); cluster session tests skipped');

let nats: Engine;
const opened: TestBroker[] = [];
const wires: Wire[] = [];
let prefixCount = 0;

beforeAll(async () => {
  if (!hasNats) return;
  nats = await Engine.nats();
  await nats.start();
});
afterAll(async () => {
  await nats?.destroy();
});
afterEach(async () => {
  for (const wire of wires.splice(0)) wire.close();
  await Promise.all(opened.splice(0).map((b) => b.close()));
});

async function cluster(count: number): Promise<TestBroker[]> {
  const prefix = `s${++prefixCount}${Date.now() % 100000}`;
  const nodes: TestBroker[] = [];
  for (let i = 1; i <= count; i++) {
    const node = await startBroker({ cluster: { servers: `nats://127.0.0.1:${nats.port}`, nodeId: `n${i}`, prefix } });
    opened.push(node);
    nodes.push(node);
  }
  return nodes;
}

function portOf(node: TestBroker): number {
  return node.broker.addresses().tcp?.port ?? -1;
}

async function wire(node: TestBroker, version: 4 | 5 = 5): Promise<Wire> {
  const w = await Wire.open(portOf(node), version);
  wires.push(w);
  return w;
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

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
