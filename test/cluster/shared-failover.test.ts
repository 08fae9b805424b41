/**
 * Shared subscriptions across a node's death (issue 15: "when a member's node dies, that member's
 * unacknowledged messages go to another member"): real nats-server, Midge nodes as child processes
 * killed with kill -9, raw-socket members that withhold their acknowledgements.
 */
import { describe, expect, it } from 'vitest';
import type { IConnackPacket, IPublishPacket, Packet } from 'mqtt-packet';
import { hasNats, until, useNats } from '../helpers/cluster.js';
import type { Wire } from '../helpers/wire.js';
import { sleep } from '../crash/helpers.js';
import { decodeRecord, sessionKey, type ClusterSessionRecord } from '../../src/cluster/session-record.js';

const env = useNats('cluster shared-subscription failover tests');
const lab = env.lab;

function publishOf(p: Packet): IPublishPacket | undefined {
  return p.cmd === 'publish' ? (p as IPublishPacket) : undefined;
}

/** The session record of `clientId` in cluster `prefix`, as the owning node last wrote it. */
async function recordOf(prefix: string, clientId: string): Promise<ClusterSessionRecord | undefined> {
  const nc = await env.connect();
  try {
    const kv = await nc.jetstream().views.kv(`${prefix.toUpperCase()}_SESSIONS`);
    const entry = await kv.get(sessionKey(clientId));
    return entry === null || entry.operation !== 'PUT' ? undefined : decodeRecord(entry.value);
  } finally {
    await nc.close();
  }
}

/** A raw member of `filter` that never acknowledges: the payloads sent to it go into `seen`. */
async function silentMember(port: number, version: 4 | 5, clientId: string, connect: Record<string, unknown>, filter: string, seen: Set<string>): Promise<void> {
  const w = await lab.wire(port, version);
  await w.connect(clientId, connect);
  await w.subscribe(1, [{ topic: filter, qos: 1 }]);
  w.listen((p) => {
    const publish = publishOf(p);
    if (publish !== undefined) seen.add(publish.payload.toString());
  });
}

/** A raw member of `filter` that acknowledges each QoS 1 message, its payloads pushed to `got`; one whose session is present is subscribed already. */
async function ackingMember(port: number, version: 4 | 5, clientId: string, connect: Record<string, unknown>, filter: string, got: string[]): Promise<Wire> {
  const w = await lab.wire(port, version);
  const connack = await w.connect(clientId, connect);
  if (!connack.sessionPresent) await w.subscribe(1, [{ topic: filter, qos: 1 }]);
  w.listen((p) => {
    const publish = publishOf(p);
    if (publish === undefined) return;
    got.push(publish.payload.toString());
    w.send({ cmd: 'puback', messageId: publish.messageId } as Packet);
  });
  return w;
}

/** The payloads of `list` seen more than once (each repeat listed). */
function repeated(list: readonly string[]): string[] {
  const seen = new Set<string>();
  return list.filter((p) => (seen.has(p) ? true : (seen.add(p), false)));
}

describe.skipIf(!hasNats)('cluster mode: a dead node\'s shared-subscription messages go to another member (real nats-server, child processes)', () => {
  it('QoS 1: kill -9 of a member\'s node; the messages it had not acknowledged reach the member on the other node, each once, and not the member again', async () => {
    const cluster = env.prefix('sq');
    const a = await env.spawn(cluster, 'a');
    const b = await env.spawn(cluster, 'b');
    // Member on node a: a persistent session that never acknowledges
    const held = new Set<string>();
    await silentMember(a.port, 4, 'sq-a', { clean: false }, '$share/g/sq/t', held);
    // Member on node b: a persistent session that acknowledges everything
    const gotB: string[] = [];
    await ackingMember(b.port, 4, 'sq-b', { clean: false }, '$share/g/sq/t', gotB);
    await sleep(300); // both nodes' queue subscriptions reach NATS
    const pub = await lab.connectMqtt(b.port, { clientId: 'sq-pub' });
    const sent = Array.from({ length: 40 }, (_, i) => `m${i}`);
    for (const payload of sent) await pub.publishAsync('sq/t', payload, { qos: 1 });
    await until(() => held.size + gotB.length >= 40, `every message reached a member (a ${held.size}, b ${gotB.length})`, 15_000);
    expect(held.size, 'NATS gave node a its share').toBeGreaterThan(0);
    const unacknowledged = [...held];
    await a.crash();

    await until(() => unacknowledged.every((p) => gotB.includes(p)), `the ${unacknowledged.length} unacknowledged messages of node a's member reached node b's member`, 40_000);
    await sleep(1000); // nothing more arrives
    expect(repeated(gotB), 'node b\'s member got each message once').toEqual([]);
    expect([...gotB].sort(), 'nothing lost').toEqual([...sent].sort());

    // The member comes back (on node b): the moved messages are no longer in its session
    const back = await lab.wire(b.port, 4);
    const again: string[] = [];
    const connack = (await back.connect('sq-a', { clean: false })) as IConnackPacket;
    expect(connack.sessionPresent).toBe(true);
    back.listen((p) => {
      const publish = publishOf(p);
      if (publish !== undefined) again.push(publish.payload.toString());
    });
    await sleep(1500);
    expect(again, 'the member does not get the moved messages again').toEqual([]);
  }, 120_000);

  it('a clean-session member (Session Expiry Interval 0): kill -9 of its node; its unacknowledged QoS 1 messages, sent or queued, reach the member on the other node, each once', async () => {
    const cluster = env.prefix('sc');
    const a = await env.spawn(cluster, 'a');
    const b = await env.spawn(cluster, 'b');
    // Member on node a: MQTT 5, a clean session (expiry 0) with Receive Maximum 4 that never acknowledges: 4 sent, the rest queued
    const held = new Set<string>();
    await silentMember(a.port, 5, 'sc-a', { clean: true, properties: { sessionExpiryInterval: 0, receiveMaximum: 4 } }, '$share/gc/sc/t', held);
    const gotB: string[] = [];
    await ackingMember(b.port, 4, 'sc-b', { clean: true }, '$share/gc/sc/t', gotB);
    await sleep(300);
    const pub = await lab.connectMqtt(b.port, { clientId: 'sc-pub' });
    const sent = Array.from({ length: 40 }, (_, i) => `c${i}`);
    for (const payload of sent) await pub.publishAsync('sc/t', payload, { qos: 1 });
    // Node a's committed record lists its member's deliveries (sent and queued); with node b's they cover all 40
    let record: ClusterSessionRecord | undefined;
    await until(async () => {
      record = await recordOf(cluster, 'sc-a');
      return (record?.deliveries.length ?? 0) + gotB.length >= 40 && held.size === 4;
    }, `node a's record and node b's member cover 40 (record ${record?.deliveries.length}, b ${gotB.length}, sent to a ${held.size})`, 15_000);
    expect(record?.session, 'a clean session: no session in the record').toBeUndefined();
    expect(record?.deliveries.length, 'node a had messages sent and queued for its member').toBeGreaterThan(4);
    await a.crash();

    await until(() => gotB.length >= 40, `node a's member's ${40 - gotB.length} messages reached node b's member (has ${gotB.length})`, 40_000);
    await sleep(1000); // nothing more arrives
    expect(repeated(gotB), "node b's member got each message once").toEqual([]);
    expect([...gotB].sort(), 'nothing lost').toEqual([...sent].sort());
    await until(async () => (await recordOf(cluster, 'sc-a')) === undefined, 'the ended session\'s record is deleted', 10_000);
  }, 120_000);

  it('a clean-session member that connects again on another node (its old connection taken over): its unacknowledged QoS 1 messages go to a member, each once', async () => {
    const cluster = env.prefix('st');
    const a = await env.spawn(cluster, 'a');
    const b = await env.spawn(cluster, 'b');
    const held = new Set<string>();
    await silentMember(a.port, 4, 'st-a', { clean: true }, '$share/gt/st/t', held);
    const got: string[] = [];
    await ackingMember(b.port, 4, 'st-b', { clean: true }, '$share/gt/st/t', got);
    await sleep(300);
    const pub = await lab.connectMqtt(b.port, { clientId: 'st-pub' });
    const sent = Array.from({ length: 30 }, (_, i) => `t${i}`);
    for (const payload of sent) await pub.publishAsync('st/t', payload, { qos: 1 });
    await until(async () => ((await recordOf(cluster, 'st-a'))?.deliveries.length ?? 0) + got.length >= 30, 'node a\'s record and node b\'s member cover 30', 15_000);
    expect(held.size, 'NATS gave node a its share').toBeGreaterThan(0);
    // The same client id connects on node b with a clean session: node a's connection is taken over and its session ends
    await ackingMember(b.port, 4, 'st-a', { clean: true }, '$share/gt/st/t', got);
    await until(() => got.length >= 30, `the ${held.size} unacknowledged messages reached a member (have ${got.length})`, 20_000);
    await sleep(1000);
    expect(repeated(got), 'each once').toEqual([]);
    expect([...got].sort(), 'nothing lost').toEqual([...sent].sort());
  }, 120_000);

  it('a node whose members are all offline (a dead node\'s adopted session) gets no share while a member elsewhere is connected; with none connected anywhere, messages wait for the offline members, none lost', async () => {
    const cluster = env.prefix('so');
    const a = await env.spawn(cluster, 'a');
    const b = await env.spawn(cluster, 'b');
    // Member x on node a: a persistent session with an expiry, so a survivor adopts it (offline) when node a dies
    const x = await lab.wire(a.port, 5);
    await x.connect('so-x', { clean: false, properties: { sessionExpiryInterval: 3600 } });
    await x.subscribe(1, [{ topic: '$share/go/so/t', qos: 1 }]);
    await x.barrier(2); // its record (with the subscription) is committed
    await a.crash();
    await until(async () => (await recordOf(cluster, 'so-x'))?.owner.node === 'b', 'node b adopted member x\'s session', 40_000);
    // Node c starts after the adoption (so node b holds x alone), with member y connected
    const c = await env.spawn(cluster, 'c');
    const got = new Map<string, string[]>([['so-x', []], ['so-y', []]]);
    const member = (port: number, clientId: string, version: 4 | 5, extra: Record<string, unknown>) => ackingMember(port, version, clientId, { clean: false, ...extra }, '$share/go/so/t', got.get(clientId) as string[]);
    const y = await member(c.port, 'so-y', 4, {});
    await sleep(500); // node c's queue subscriptions reach NATS
    const pub = await lab.connectMqtt(c.port, { clientId: 'so-pub' });
    const first = Array.from({ length: 40 }, (_, i) => `f${i}`);
    for (const payload of first) await pub.publishAsync('so/t', payload, { qos: 1 });
    await until(() => (got.get('so-y')?.length ?? 0) >= 40, `the connected member y got all 40 (has ${got.get('so-y')?.length})`, 15_000);
    // No member connected anywhere: what NATS gives either node waits for an offline member
    y.send({ cmd: 'disconnect' } as Packet);
    await y.waitClosed();
    await sleep(500);
    const later = Array.from({ length: 10 }, (_, i) => `l${i}`);
    for (const payload of later) await pub.publishAsync('so/t', payload, { qos: 1 });
    await sleep(1000);
    await member(b.port, 'so-x', 5, { properties: { sessionExpiryInterval: 3600 } });
    await member(c.port, 'so-y', 4, {});
    const all = () => [...(got.get('so-x') ?? []), ...(got.get('so-y') ?? [])];
    await until(() => all().length >= 50, `all 50 reached a member (have ${all().length})`, 15_000);
    await sleep(1000);
    expect(got.get('so-x')?.filter((p) => p.startsWith('f')), 'the offline member got no share while member y was connected').toEqual([]);
    expect(repeated(all()), 'each once').toEqual([]);
    expect(all().sort(), 'nothing lost').toEqual([...first, ...later].sort());
  }, 150_000);

  it('QoS 2: the dead node\'s member keeps its messages, sent or queued (a hand-over could deliver one twice); it gets them when it comes back: the sent ones with DUP=1, each once', async () => {
    const cluster = env.prefix('sq');
    const a = await env.spawn(cluster, 'a');
    const b = await env.spawn(cluster, 'b');
    // Member on node a: MQTT 5, Receive Maximum 2, never sends PUBREC: two in flight, the rest queued on node a
    const sentToA = new Set<string>();
    const onA = await lab.wire(a.port, 5);
    await onA.connect('sq2-a', { clean: false, properties: { sessionExpiryInterval: 3600, receiveMaximum: 2 } });
    await onA.subscribe(1, [{ topic: '$share/g2/sq2/t', qos: 2 }]);
    onA.listen((p) => {
      const publish = publishOf(p);
      if (publish !== undefined) sentToA.add(publish.payload.toString());
    });
    // Member on node b: a QoS 2 receiver that completes every flow and counts deliveries by packet id
    const onB = await lab.wire(b.port, 4);
    await onB.connect('sq2-b', { clean: false });
    await onB.subscribe(1, [{ topic: '$share/g2/sq2/t', qos: 2 }]);
    const gotB: string[] = [];
    const pendingB = new Set<number>();
    onB.listen((p) => {
      const publish = publishOf(p);
      if (publish !== undefined) {
        const id = publish.messageId as number;
        if (!pendingB.has(id)) {
          pendingB.add(id);
          gotB.push(publish.payload.toString());
        }
        onB.send({ cmd: 'pubrec', messageId: id } as Packet);
      } else if (p.cmd === 'pubrel') {
        pendingB.delete(p.messageId as number);
        onB.send({ cmd: 'pubcomp', messageId: p.messageId } as Packet);
      }
    });
    await sleep(300);
    const pub = await lab.connectMqtt(b.port, { clientId: 'sq2-pub' });
    const sent = Array.from({ length: 30 }, (_, i) => `q${i}`);
    for (const payload of sent) await pub.publishAsync('sq2/t', payload, { qos: 2 });
    // Wait on node a's committed record: its member's deliveries (two sent, the rest queued) plus node b's cover all 30
    let record: ClusterSessionRecord | undefined;
    const deadline = Date.now() + 15_000;
    for (;;) {
      record = await recordOf(cluster, 'sq2-a');
      if ((record?.deliveries.length ?? 0) + gotB.length >= 30 && sentToA.size === 2) break;
      if (Date.now() > deadline) throw new Error(`node a's record and node b's member never covered 30 messages (record ${record?.deliveries.length}, b ${gotB.length}, sent to a ${sentToA.size})`);
      await sleep(100);
    }
    const queuedOnA = (record?.deliveries.length ?? 0) - sentToA.size;
    expect(queuedOnA, 'node a had messages queued for its member').toBeGreaterThan(0);
    const beforeKill = gotB.length;
    await a.crash();

    // A survivor adopts the session (its record changes owner): none of its QoS 2 messages go to node b's member
    const adoptedBy = Date.now() + 40_000;
    while ((await recordOf(cluster, 'sq2-a'))?.owner.node !== 'b') {
      if (Date.now() > adoptedBy) throw new Error('node b never adopted the dead node\'s session');
      await sleep(200);
    }
    await sleep(1000);
    expect(gotB.length, 'no QoS 2 message of the dead member went to node b\'s member').toBe(beforeKill);

    // The member comes back on node b: its two sent messages again with DUP=1, then the queued ones, each once
    const back = await lab.wire(b.port, 5);
    const again: IPublishPacket[] = [];
    const connack = (await back.connect('sq2-a', { clean: false, properties: { sessionExpiryInterval: 3600 } })) as IConnackPacket;
    expect(connack.sessionPresent).toBe(true);
    back.listen((p) => {
      const publish = publishOf(p);
      if (publish !== undefined) {
        again.push(publish);
        back.send({ cmd: 'pubrec', messageId: publish.messageId } as Packet);
      } else if (p.cmd === 'pubrel') {
        back.send({ cmd: 'pubcomp', messageId: p.messageId } as Packet);
      }
    });
    const expected = sentToA.size + queuedOnA;
    await until(() => again.length >= expected, `the member's ${expected} messages (have ${again.length})`, 15_000);
    await sleep(1000);
    const againPayloads = again.map((p) => p.payload.toString());
    expect(repeated(againPayloads), 'each once').toEqual([]);
    expect(again.filter((p) => sentToA.has(p.payload.toString())).every((p) => p.dup), 'the sent ones again with DUP=1').toBe(true);
    expect([...gotB, ...againPayloads].sort(), 'nothing lost, nothing twice').toEqual([...sent].sort());
  }, 120_000);

  it('with no other member left, the dead node\'s member keeps its messages and gets them when it comes back', async () => {
    const cluster = env.prefix('sq');
    const a = await env.spawn(cluster, 'a');
    const b = await env.spawn(cluster, 'b');
    const held = new Set<string>();
    await silentMember(a.port, 4, 'sq3-a', { clean: false }, '$share/g3/sq3/t', held);
    await sleep(300);
    const pub = await lab.connectMqtt(b.port, { clientId: 'sq3-pub' });
    const sent = Array.from({ length: 10 }, (_, i) => `n${i}`);
    for (const payload of sent) await pub.publishAsync('sq3/t', payload, { qos: 1 });
    await until(() => held.size >= 10, `node a's member got all 10 (has ${held.size})`, 15_000);
    await a.crash();
    // Node b adopts the session (it holds shared messages) and finds no member to give them to
    await until(async () => (await recordOf(cluster, 'sq3-a'))?.owner.node === 'b', 'node b adopted the session', 40_000);
    const back = await lab.wire(b.port, 4);
    const again: IPublishPacket[] = [];
    const connack = (await back.connect('sq3-a', { clean: false })) as IConnackPacket;
    expect(connack.sessionPresent).toBe(true);
    back.listen((p) => {
      const publish = publishOf(p);
      if (publish === undefined) return;
      again.push(publish);
      back.send({ cmd: 'puback', messageId: publish.messageId } as Packet);
    });
    await until(() => again.length >= 10, `the 10 messages again (have ${again.length})`, 15_000);
    expect(again.map((p) => p.payload.toString()).sort()).toEqual([...sent].sort());
    expect(again.every((p) => p.dup), 'redeliveries have DUP=1').toBe(true);
  }, 120_000);
});
