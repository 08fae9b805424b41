/**
 * Regression tests of cluster defects found in review (issue 15): message ids of node-local
 * messages across a session move, a connection closed during the session's acquire. Real
 * nats-server, in-process nodes, raw-socket clients that withhold acknowledgements.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import type { Drop } from '../../src/index.js';
import { Engine, installed } from '../helpers/engines.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';
import { ClassicLevel } from 'classic-level';
import { decodeMessage } from '../../src/store/records.js';

const hasNats = installed('nats-server');
if (!hasNats) console.warn('SKIPPED: nats-server is not installed (apt-get install nats-server); cluster defect tests skipped');

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

const prefixes = new Map<TestBroker, string>();

/** `count` nodes of a new cluster, or one more node `nodeId` of the cluster of `joining`. */
async function cluster(count: number, extra: Record<string, unknown> = {}, nodeId?: string, joining?: TestBroker): Promise<TestBroker[]> {
  const prefix = (joining && prefixes.get(joining)) ?? `d${++prefixCount}${Date.now() % 100000}`;
  const nodes: TestBroker[] = [];
  for (let i = 1; i <= count; i++) {
    const node = await startBroker({ ...extra, cluster: { servers: `nats://127.0.0.1:${nats.port}`, nodeId: nodeId ?? `n${i}`, prefix } });
    prefixes.set(node, prefix);
    opened.push(node);
    nodes.push(node);
  }
  return nodes;
}

async function wire(node: TestBroker, version: 4 | 5 = 5): Promise<Wire> {
  const w = await Wire.open(node.port, version);
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

/** Waits until `node` has a retained message on `topic` (the RET stream reaches every node). */
async function retainedOn(node: TestBroker, topic: string): Promise<void> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const probe = await node.client({ clientId: `probe-${attempt}` });
    let seen = false;
    probe.on('message', () => (seen = true));
    await probe.subscribeAsync(topic, { qos: 0 });
    await until(() => seen, 'retained', 300).catch(() => undefined);
    await probe.endAsync(true);
    if (seen) return;
  }
  throw new Error(`no retained message on ${topic}`);
}

const persistent = { clean: false, properties: { sessionExpiryInterval: 300 } };

describe.skipIf(!hasNats)('cluster defects (real nats-server)', () => {
  it('node-local message ids do not collide when sessions move between nodes: each keeps its own retained message', async () => {
    const [a, b] = (await cluster(2)) as [TestBroker, TestBroker];
    const pubA = await a.client({ clientId: 'ids-pub-a' });
    const pubB = await b.client({ clientId: 'ids-pub-b' });
    await pubA.publishAsync('ids/noise', 'n', { qos: 1 }); // A's counter moves ahead of B's
    await pubB.publishAsync('r/x', 'X', { qos: 1, retain: true });
    await pubA.publishAsync('r/y', 'Y', { qos: 1, retain: true });
    await retainedOn(a, 'r/x');
    await retainedOn(b, 'r/y');

    // Neither subscriber acknowledges: its retained message stays in flight with a node-local id
    const s1 = await wire(a);
    await s1.connect('ids-s1', persistent);
    await s1.subscribe(1, [{ topic: 'r/x', qos: 1 }]);
    expect(((await s1.next('publish', 5000)) as IPublishPacket).payload.toString()).toBe('X');
    const s2 = await wire(b);
    await s2.connect('ids-s2', persistent);
    await s2.subscribe(1, [{ topic: 'r/y', qos: 1 }]);
    expect(((await s2.next('publish', 5000)) as IPublishPacket).payload.toString()).toBe('Y');

    // s1 moves to B, then s2 to A: each gets its own message again, with DUP
    const s1b = await wire(b);
    expect((await s1b.connect('ids-s1', persistent)).sessionPresent).toBe(true);
    const again1 = (await s1b.next('publish', 5000)) as IPublishPacket;
    const s2a = await wire(a);
    expect((await s2a.connect('ids-s2', persistent)).sessionPresent).toBe(true);
    const again2 = (await s2a.next('publish', 5000)) as IPublishPacket;
    expect([again1.topic, again1.payload.toString(), again1.dup]).toEqual(['r/x', 'X', true]);
    expect([again2.topic, again2.payload.toString(), again2.dup]).toEqual(['r/y', 'Y', true]);
  }, 60_000);

  it('a connection that closes while its session is acquired leaves the session offline: it expires on time and the previous connection\'s will goes out', async () => {
    const [a, b] = (await cluster(2)) as [TestBroker, TestBroker];
    const watcher = await a.client({ clientId: 'abandon-watch' });
    const wills: string[] = [];
    watcher.on('message', (topic, payload) => wills.push(`${topic}=${payload.toString()}`));
    await watcher.subscribeAsync('abandon/will', { qos: 1 });
    // Expiry 2 s, a will delayed beyond it (so due when the session ends), 10 in flight and 290 queued
    const first = await wire(a);
    await first.connect('abandon-s', { clean: false, properties: { sessionExpiryInterval: 2, receiveMaximum: 10 }, will: { topic: 'abandon/will', payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 60 } } });
    await first.subscribe(1, [{ topic: 'abandon/t', qos: 1 }]);
    const pub = await b.client({ clientId: 'abandon-pub' });
    for (let i = 0; i < 300; i++) await pub.publishAsync('abandon/t', String(i), { qos: 1 });

    // A raw CONNECT on B whose socket closes 2 ms later, while B takes the session over
    const second = await wire(b);
    second.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'abandon-s', clean: false, keepalive: 0, properties: { sessionExpiryInterval: 2 } } as Packet);
    await new Promise((r) => setTimeout(r, 2));
    second.close();
    await first.waitClosed(10_000); // taken over

    await until(() => wills.length > 0, 'the will of the connection that was taken over', 20_000);
    expect(wills).toEqual(['abandon/will=gone']);
    await until(() => b.broker.session('abandon-s') === undefined && a.broker.session('abandon-s') === undefined, 'the session expired', 20_000);
  }, 60_000);

  it('MQTT 5 4.8.2: the messages of the only member of a shared group, whose session expires unacknowledged, are counted as dropped (session-ended)', async () => {
    const drops: Drop[] = [];
    const [a] = (await cluster(1, { plugins: [{ onDropped: (d: Drop) => drops.push(d) }] })) as [TestBroker];
    const [b] = (await cluster(1, {}, 'n2', a)) as [TestBroker];
    const member = await wire(a);
    await member.connect('share-only', { clean: false, properties: { sessionExpiryInterval: 1 } });
    await member.subscribe(1, [{ topic: '$share/g/jobs', qos: 1 }]);
    member.close(); // offline: its messages wait in its queue
    await until(() => a.broker.session('share-only')?.connected === false, 'the member is offline');
    const pub = await b.client({ clientId: 'share-pub' });
    for (let i = 0; i < 50; i++) await pub.publishAsync('jobs', String(i), { qos: 1 });
    await until(() => (a.broker.session('share-only')?.queued ?? 0) === 50, 'the 50 messages queued for the member', 15_000);
    await until(() => drops.length >= 50, `50 drops reported (have ${drops.length})`, 20_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(drops.length).toBe(50);
    expect(new Set(drops.map((d) => d.reason))).toEqual(new Set(['session-ended']));
  }, 60_000);

  it('a session taken over by another node releases its messages here: no node-local message stays in the local store', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'midge-evict-'));
    try {
      const [a] = (await cluster(1, { store: 'level', dataDir })) as [TestBroker];
      const [b] = (await cluster(1, {}, 'n2', a)) as [TestBroker];
      const pub = await a.client({ clientId: 'evict-pub' });
      await pub.publishAsync('evict/r', 'R', { qos: 1, retain: true });
      const first = await wire(a);
      await first.connect('evict-s', persistent);
      await first.subscribe(1, [{ topic: 'evict/r', qos: 1 }]); // its retained message stays in flight, unacknowledged
      expect(((await first.next('publish', 5000)) as IPublishPacket).payload.toString()).toBe('R');
      const second = await wire(b);
      expect((await second.connect('evict-s', persistent)).sessionPresent).toBe(true);
      expect(((await second.next('publish', 5000)) as IPublishPacket).dup).toBe(true);
      await until(() => a.broker.session('evict-s') === undefined, 'the session left node A');
      opened.splice(opened.indexOf(a), 1);
      await a.close();
      // The raw message records of the level store in dataDir (opening a LevelStore reads only the referenced ones)
      const db = new ClassicLevel<string, Uint8Array>(dataDir, { keyEncoding: 'utf8', valueEncoding: 'view' });
      await db.open();
      const left: string[] = [];
      for await (const value of db.values({ gte: 'm\u0000', lt: 'm\u0001' })) left.push(decodeMessage(value).topic);
      await db.close();
      expect(left).toEqual([]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
