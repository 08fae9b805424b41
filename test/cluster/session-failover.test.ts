/**
 * Failure tests of cluster sessions (issue 15, failure tests 1, 2, 4 and 5): real nats-server,
 * Midge nodes as child processes killed with kill -9 (or stopped with SIGSTOP), raw-socket clients
 * that withhold acknowledgements.
 */
import { describe, expect, it } from 'vitest';
import type { IConnackPacket, IDisconnectPacket, IPublishPacket, Packet } from 'mqtt-packet';
import { hasNats, useNats } from '../helpers/cluster.js';
import { sleep, until } from '../crash/helpers.js';
import { decodeRecord, sessionKey } from '../../src/cluster/session-record.js';

const env = useNats('cluster session failover tests');
const lab = env.lab;
const prefix = () => env.prefix('sf');
const node = (cluster: string, nodeId: string) => env.spawn(cluster, nodeId);

function publishOf(p: Packet): IPublishPacket | undefined {
  return p.cmd === 'publish' ? (p as IPublishPacket) : undefined;
}

describe.skipIf(!hasNats)('cluster sessions across node failures (real nats-server, child processes)', () => {
  it('1: kill -9 of the subscriber\'s node with QoS 1 in flight; on another node nothing is lost and every redelivery has DUP=1 and its packet id', async () => {
    const cluster = prefix();
    const a = await node(cluster, 'a');
    const b = await node(cluster, 'b');
    const sub = await lab.wire(a.port, 4);
    await sub.connect('f1-sub', { clean: false });
    await sub.subscribe(1, [{ topic: 'f1/#', qos: 1 }]);
    const first = new Map<number, number>(); // payload -> packet id of its first delivery
    sub.listen((p) => {
      const publish = publishOf(p);
      if (publish === undefined) return;
      const n = Number(publish.payload.toString());
      if (!first.has(n)) first.set(n, publish.messageId as number);
      if (n < 40) sub.send({ cmd: 'puback', messageId: publish.messageId } as Packet); // the rest stays in flight
    });
    const pub = await lab.connectMqtt(b.port, { clientId: 'f1-pub' });
    for (let i = 0; i < 100; i++) await pub.publishAsync('f1/t', String(i), { qos: 1 });
    await until(() => first.size === 100, `100 first deliveries (have ${first.size})`, 15_000);
    await a.crash();

    const back = await lab.wire(b.port, 4);
    const again: { n: number; dup: boolean; packetId: number }[] = [];
    const connack = (await back.connect('f1-sub', { clean: false })) as IConnackPacket;
    expect(connack.sessionPresent).toBe(true);
    back.listen((p) => {
      const publish = publishOf(p);
      if (publish === undefined) return;
      again.push({ n: Number(publish.payload.toString()), dup: publish.dup, packetId: publish.messageId as number });
      back.send({ cmd: 'puback', messageId: publish.messageId } as Packet);
    });
    await until(() => new Set(again.map((r) => r.n)).size >= 60, `redeliveries of the 60 unacknowledged (have ${again.length})`, 15_000);
    await sleep(300);
    for (let n = 40; n < 100; n++) {
      const redelivery = again.find((r) => r.n === n);
      expect(redelivery, `message ${n} redelivered`).toBeDefined();
      expect(redelivery?.packetId, `message ${n} keeps its packet id`).toBe(first.get(n));
    }
    expect(again.filter((r) => !r.dup), 'every redelivery has DUP=1').toEqual([]);
    const received = new Set([...first.keys(), ...again.map((r) => r.n)]);
    expect(Array.from({ length: 100 }, (_, i) => i).filter((i) => !received.has(i)), 'lost').toEqual([]);
  }, 90_000);

  it('2: QoS 2 across kill -9, outbound (between PUBREC and PUBCOMP) and inbound (between PUBREC and PUBREL): 0 lost, 0 duplicates', async () => {
    const cluster = prefix();
    const a = await node(cluster, 'a');
    const b = await node(cluster, 'b');
    const c = await node(cluster, 'c');
    // A QoS 2 receiver as a client implements it: a packet id is delivered once, until its PUBREL
    const pending = new Set<number>();
    const delivered: string[] = [];
    const receive = (wire: typeof sub, p: Packet, phase: 'before' | 'after'): void => {
      const publish = publishOf(p);
      if (publish !== undefined) {
        const id = publish.messageId as number;
        if (!pending.has(id)) {
          pending.add(id);
          delivered.push(publish.payload.toString());
        }
        const n = Number(publish.payload.toString().slice(1));
        if (phase === 'after' || n < 40) wire.send({ cmd: 'pubrec', messageId: id } as Packet);
      } else if (p.cmd === 'pubrel') {
        const id = p.messageId as number;
        const n = [...delivered].length; // the PUBCOMP of the second twenty is lost with the node
        pending.delete(id);
        if (phase === 'after' || releasedBefore++ < 20) wire.send({ cmd: 'pubcomp', messageId: id } as Packet);
        void n;
      }
    };
    let releasedBefore = 0;
    const sub = await lab.wire(a.port, 4);
    await sub.connect('f2-sub', { clean: false });
    await sub.subscribe(1, [{ topic: 'f2/out', qos: 2 }]);
    sub.listen((p) => receive(sub, p, 'before'));
    const pub = await lab.connectMqtt(b.port, { clientId: 'f2-pub' });
    for (let i = 0; i < 60; i++) await pub.publishAsync('f2/out', `o${i}`, { qos: 2 });
    await until(() => delivered.length === 60 && releasedBefore >= 40, `60 delivered, 40 released (have ${delivered.length}, ${releasedBefore})`, 15_000);

    // Inbound: a publisher on A gets PUBREC for 10 messages and PUBCOMP for the first 5 only
    const inSub = await lab.connectMqtt(c.port, { clientId: 'f2-in-sub' });
    const inbound: string[] = [];
    inSub.on('message', (_t, payload) => inbound.push(payload.toString()));
    await inSub.subscribeAsync('f2/in', { qos: 2 });
    const raw = await lab.wire(a.port, 4);
    await raw.connect('f2-raw-pub', { clean: false });
    for (let id = 1; id <= 10; id++) {
      raw.send({ cmd: 'publish', topic: 'f2/in', payload: Buffer.from(`i${id}`), qos: 2, retain: false, dup: false, messageId: id } as Packet);
      expect((await raw.next('pubrec', 10_000)).messageId).toBe(id);
    }
    for (let id = 1; id <= 5; id++) {
      raw.send({ cmd: 'pubrel', messageId: id } as Packet);
      expect((await raw.next('pubcomp', 10_000)).messageId).toBe(id);
    }
    await a.crash();

    const rawBack = await lab.wire(b.port, 4);
    expect(((await rawBack.connect('f2-raw-pub', { clean: false })) as IConnackPacket).sessionPresent).toBe(true);
    for (let id = 6; id <= 10; id++) {
      rawBack.send({ cmd: 'pubrel', messageId: id } as Packet);
      expect((await rawBack.next('pubcomp', 10_000)).messageId).toBe(id);
    }
    const back = await lab.wire(c.port, 4);
    expect(((await back.connect('f2-sub', { clean: false })) as IConnackPacket).sessionPresent).toBe(true);
    back.listen((p) => receive(back, p, 'after'));
    await until(() => pending.size === 0 && inbound.length >= 10, `every exchange completed (pending ${pending.size}, inbound ${inbound.length})`, 15_000);
    await sleep(500);
    expect([...delivered].sort(), 'outbound: each once').toEqual(Array.from({ length: 60 }, (_, i) => `o${i}`).sort());
    expect([...inbound].sort(), 'inbound: each once').toEqual(Array.from({ length: 10 }, (_, i) => `i${i + 1}`).sort());
  }, 120_000);

  it('4: a node restarted with the same id while a session it held is offline: 0 lost, in order', async () => {
    const cluster = prefix();
    let a = await node(cluster, 'a');
    const b = await node(cluster, 'b');
    const sub = await lab.connectMqtt(a.port, { clientId: 'f4-sub', clean: false });
    await sub.subscribeAsync('f4/#', { qos: 1 });
    await sub.endAsync();
    const pub = await lab.connectMqtt(b.port, { clientId: 'f4-pub' });
    for (let i = 0; i < 20; i++) await pub.publishAsync('f4/t', String(i), { qos: 1 });
    a = await lab.crashAndRestart(a); // same node id, new incarnation
    for (let i = 20; i < 40; i++) await pub.publishAsync('f4/t', String(i), { qos: 1 });
    const got: number[] = [];
    const back = lab.mqtt(a.port, { clientId: 'f4-sub', clean: false });
    back.on('message', (_t, payload) => got.push(Number(payload.toString())));
    await until(() => got.length >= 40, `40 messages (have ${got.length})`, 30_000);
    await sleep(300);
    expect(got).toEqual(Array.from({ length: 40 }, (_, i) => i));
  }, 90_000);

  it('5: cross-node takeover of a hung owner: the new owner fences it, and its write after waking is refused', async () => {
    const cluster = prefix();
    const a = await node(cluster, 'a');
    const b = await node(cluster, 'b');
    const zombie = await lab.wire(a.port, 5);
    await zombie.connect('f5', { clean: false, properties: { sessionExpiryInterval: 600 } });
    await zombie.subscribe(1, [{ topic: 'f5/#', qos: 1 }]);
    await zombie.barrier(2); // its PUBACK follows the commit of the subscription's record
    a.child.kill('SIGSTOP'); // hung: it cannot answer the handover request
    try {
      const fresh = await lab.wire(b.port, 5);
      const connack = (await fresh.connect('f5', { clean: false, properties: { sessionExpiryInterval: 600 } })) as IConnackPacket;
      expect(connack.sessionPresent).toBe(true);
      const pub = await lab.connectMqtt(b.port, { clientId: 'f5-pub' });
      for (let i = 0; i < 5; i++) await pub.publishAsync('f5/t', `m${i}`, { qos: 1 });
      for (let i = 0; i < 5; i++) expect(((await fresh.next('publish', 5000)) as IPublishPacket).payload.toString()).toBe(`m${i}`);
    } finally {
      a.child.kill('SIGCONT');
    }
    // Awake, A still believes it owns the session: its next write is refused and it closes the connection
    await until(() => a.logs().some((l) => l.msg.includes('fenced')), 'the old owner logged its refused write', 10_000);
    const disconnect = (await zombie.next('disconnect', 5000)) as IDisconnectPacket;
    expect(disconnect.reasonCode).toBe(0x8e);
    await zombie.waitClosed(3000);
    // The zombie got none of the messages published after the takeover
    expect(zombie.received.filter((p) => p.cmd === 'publish')).toEqual([]);
    const nc = await env.connect();
    try {
      const kv = await nc.jetstream().views.kv(`${cluster.toUpperCase()}_SESSIONS`);
      const entry = await kv.get(sessionKey('f5'));
      expect(entry && decodeRecord(entry.value).owner.node).toBe('b');
    } finally {
      await nc.close();
    }
  }, 90_000);
  it('7: wills of clients on a node killed with kill -9 are published exactly once cluster-wide, a delayed one after its delay', async () => {
    const cluster = prefix();
    const a = await node(cluster, 'a');
    const b = await node(cluster, 'b');
    const c = await node(cluster, 'c');
    const heard: { payload: string; at: number; node: string }[] = [];
    for (const [name, n] of [['b', b], ['c', c]] as const) {
      const listener = await lab.connectMqtt(n.port, { clientId: `f7-listen-${name}`, protocolVersion: 5 });
      listener.on('message', (_t, payload) => heard.push({ payload: payload.toString(), at: Date.now(), node: name }));
      await listener.subscribeAsync('f7/will/#', { qos: 1 });
    }
    const now = await lab.wire(a.port, 5);
    await now.connect('f7-now', { will: { topic: 'f7/will/now', payload: Buffer.from('now'), qos: 1, retain: false } });
    const later = await lab.wire(a.port, 5);
    await later.connect('f7-later', {
      clean: false,
      properties: { sessionExpiryInterval: 60 },
      will: { topic: 'f7/will/later', payload: Buffer.from('later'), qos: 1, retain: false, properties: { willDelayInterval: 4 } },
    });
    // A client that returns (on another node) within its will delay: its will is not sent [MQTT-3.1.3-9]
    const back = await lab.wire(a.port, 5);
    await back.connect('f7-back', {
      clean: false,
      properties: { sessionExpiryInterval: 60 },
      will: { topic: 'f7/will/back', payload: Buffer.from('back'), qos: 1, retain: false, properties: { willDelayInterval: 30 } },
    });
    for (const w of [now, later, back]) await w.barrier(9); // their records (and wills) are committed
    await sleep(300);
    const killedAt = Date.now();
    await a.crash();
    const returned = await lab.wire(b.port, 5);
    expect(((await returned.connect('f7-back', { clean: false, properties: { sessionExpiryInterval: 60 } })) as IConnackPacket).sessionPresent).toBe(true);
    await until(() => heard.filter((h) => h.payload === 'later').length >= 2, `the delayed will (heard ${JSON.stringify(heard)})`, 30_000);
    await sleep(3000); // nothing more comes
    const count = (payload: string, at: string) => heard.filter((h) => h.payload === payload && h.node === at).length;
    for (const at of ['b', 'c']) {
      expect(count('now', at), `will 'now' on node ${at}`).toBe(1);
      expect(count('later', at), `will 'later' on node ${at}`).toBe(1);
      expect(count('back', at), `will 'back' on node ${at}`).toBe(0);
    }
    const laterAt = heard.find((h) => h.payload === 'later')?.at ?? 0;
    expect(laterAt - killedAt, 'the delayed will waited for its delay').toBeGreaterThanOrEqual(4000);
  }, 90_000);
});
