import { describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import type { TestBroker } from '../helpers/broker.js';
import { hasNats, until, useNats } from '../helpers/cluster.js';
import { queueName } from '../../src/cluster/shared-groups.js';

const env = useNats('cluster shared-subscription tests');
const cluster = (count = 3) => env.nodes(count, 'sh');

/** Records every payload each client receives, by client id. */
function recorder(): { got: Map<string, string[]>; watch(client: MqttClient, id: string): void; all(): string[] } {
  const got = new Map<string, string[]>();
  return {
    got,
    watch(client, id) {
      got.set(id, []);
      client.on('message', (_topic, payload) => got.get(id)?.push(payload.toString()));
    },
    all: () => [...got.values()].flat(),
  };
}

describe('shared subscription queue names', () => {
  it('are the same for one group and filter, distinct across groups and filters, and valid NATS tokens', () => {
    expect(queueName('g', 'a/#')).toBe(queueName('g', 'a/#'));
    expect(new Set([queueName('g', 'a/#'), queueName('g', 'a/+'), queueName('h', 'a/#'), queueName('g a', 'x y/#')]).size).toBe(4);
    expect(queueName('g a.b', 'ü/ /#')).toMatch(/^share_[A-Za-z0-9_-]+$/);
  });
});

describe.skipIf(!hasNats)('cluster mode: shared subscriptions span nodes (real nats-server)', () => {
  it('each message reaches exactly one member of a group cluster-wide, at QoS 0, 1 and 2, members on every node', async () => {
    const [a, b, c] = (await cluster()) as [TestBroker, TestBroker, TestBroker];
    const g = recorder();
    const h = recorder();
    const members: [TestBroker, string][] = [[a, 'g-a'], [b, 'g-b1'], [b, 'g-b2'], [c, 'g-c']];
    for (const [node, id] of members) {
      const client = await node.client({ clientId: id, protocolVersion: 5 });
      await client.subscribeAsync('$share/g/jobs/#', { qos: 2 });
      g.watch(client, id);
    }
    // A second group on another filter gets every message once too, independently of g
    for (const [node, id] of [[b, 'h-b'], [c, 'h-c']] as const) {
      const client = await node.client({ clientId: id, protocolVersion: 5 });
      await client.subscribeAsync('$share/h/jobs/+', { qos: 1 });
      h.watch(client, id);
    }
    const plain = await c.client({ clientId: 'plain-c' });
    const everything: string[] = [];
    plain.on('message', (_t, p) => everything.push(p.toString()));
    await plain.subscribeAsync('jobs/#', { qos: 1 });
    await new Promise((r) => setTimeout(r, 300)); // interest reaches NATS
    const pub = await a.client({ clientId: 'sh-pub' });
    const sent: string[] = [];
    for (let i = 0; i < 90; i++) {
      sent.push(`j${i}`);
      await pub.publishAsync('jobs/build', `j${i}`, { qos: (i % 3) as 0 | 1 | 2 });
    }
    await until(() => g.all().length >= 90 && h.all().length >= 90 && everything.length >= 90, 'every group got every message');
    await new Promise((r) => setTimeout(r, 500)); // nothing more arrives
    expect(g.all().sort()).toEqual([...sent].sort());
    expect(h.all().sort()).toEqual([...sent].sort());
    expect(everything.sort()).toEqual([...sent].sort());
    // NATS spreads the group over the nodes: more than one node's members got messages
    const nodesUsed = new Set([...g.got].filter(([, got]) => got.length > 0).map(([id]) => id.split('-')[1]?.[0]));
    expect(nodesUsed.size).toBeGreaterThan(1);
  });

  it('a node whose last member leaves the group gets no more of its messages; the remaining members get them all', async () => {
    const [a, b, c] = (await cluster()) as [TestBroker, TestBroker, TestBroker];
    const g = recorder();
    const onB = await b.client({ clientId: 'm-b' });
    const onC = await c.client({ clientId: 'm-c' });
    for (const [client, id] of [[onB, 'm-b'], [onC, 'm-c']] as const) {
      await client.subscribeAsync('$share/w/work/+', { qos: 1 });
      g.watch(client, id);
    }
    await new Promise((r) => setTimeout(r, 300));
    const pub = await a.client({ clientId: 'w-pub' });
    for (let i = 0; i < 20; i++) await pub.publishAsync('work/x', `first${i}`, { qos: 1 });
    await until(() => g.all().length >= 20, 'the first 20');
    await onB.unsubscribeAsync('$share/w/work/+');
    await new Promise((r) => setTimeout(r, 300));
    const before = g.got.get('m-b')?.length ?? 0;
    for (let i = 0; i < 20; i++) await pub.publishAsync('work/x', `second${i}`, { qos: 1 });
    await until(() => g.all().length >= 40, 'the second 20');
    await new Promise((r) => setTimeout(r, 300));
    expect(g.got.get('m-b')?.length).toBe(before);
    expect(g.all().length).toBe(40);
    expect(g.got.get('m-c')?.filter((p) => p.startsWith('second')).length).toBe(20);
  });

  it('a member on the publishing node takes its share through NATS too, and a node closing hands the group to the others', async () => {
    const [a, b] = (await cluster(2)) as [TestBroker, TestBroker];
    const g = recorder();
    const onA = await a.client({ clientId: 'p-a' });
    const onB = await b.client({ clientId: 'p-b' });
    for (const [client, id] of [[onA, 'p-a'], [onB, 'p-b']] as const) {
      await client.subscribeAsync('$share/p/t', { qos: 0 });
      g.watch(client, id);
    }
    await new Promise((r) => setTimeout(r, 300));
    const pub = await a.client({ clientId: 'p-pub' });
    for (let i = 0; i < 60; i++) await pub.publishAsync('t', `x${i}`, { qos: 0 });
    await until(() => g.all().length >= 60, 'all 60');
    await new Promise((r) => setTimeout(r, 300));
    expect(g.all().length).toBe(60);
    expect(g.got.get('p-a')?.length).toBeGreaterThan(0);
    expect(g.got.get('p-b')?.length).toBeGreaterThan(0);
    // Node b leaves: its queue subscription goes with it, so node a's member gets everything
    await b.close();
    const onAFrom = g.got.get('p-a')?.length ?? 0;
    for (let i = 0; i < 20; i++) await pub.publishAsync('t', `y${i}`, { qos: 0 });
    await until(() => (g.got.get('p-a')?.length ?? 0) >= onAFrom + 20, 'node a took them all');
  });

  it('a member whose session ends with unacknowledged QoS 1 messages and no other member on its node: they go to a member on another node', async () => {
    const [a, b] = (await cluster(2)) as [TestBroker, TestBroker];
    // Member on node a never acknowledges: a raw client that reads PUBLISH packets and sends nothing back
    const held = new Set<string>();
    const silent = await env.wire(a, 5);
    await silent.handshake({ clientId: 'h-a', clean: true, properties: { sessionExpiryInterval: 0 } });
    await silent.subscribe(1, [{ topic: '$share/h/work/#', qos: 1 }]);
    silent.listen((p) => {
      if (p.cmd === 'publish') held.add(String(p.payload));
    });
    const other = await b.client({ clientId: 'h-b', protocolVersion: 5 });
    const got: string[] = [];
    other.on('message', (_t, payload) => got.push(payload.toString()));
    await other.subscribeAsync('$share/h/work/#', { qos: 1 });
    await new Promise((r) => setTimeout(r, 300));
    const pub = await b.client({ clientId: 'h-pub' });
    const sent = Array.from({ length: 30 }, (_, i) => `w${i}`);
    for (const payload of sent) await pub.publishAsync('work/1', payload, { qos: 1 });
    await until(() => held.size + got.length >= 30, 'every message reached a member');
    expect(held.size).toBeGreaterThan(0); // NATS gave node a its share
    // The session on node a ends (session expiry 0): node a has no member left, so its unacknowledged messages go through NATS to node b
    silent.close();
    await until(() => got.length >= 30, `node b's member got the ${held.size} unacknowledged messages (has ${got.length})`);
    await new Promise((r) => setTimeout(r, 300));
    expect([...got].sort()).toEqual([...sent].sort());
  });
});
