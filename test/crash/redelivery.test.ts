/**
 * Subscriber side of durability: deliveries a subscriber has not acknowledged survive kill -9 and
 * are resent on resume with their original packet ids, in their original order [MQTT-4.4.0-1]:
 * PUBLISH with DUP=1 [MQTT-3.3.1-1], and PUBREL for QoS 2 deliveries already PUBREC'd.
 */
import { describe, it, expect, afterEach } from 'vitest';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { assertBuilt, Lab, type Wire } from './helpers.js';

const lab = new Lab();
afterEach(() => lab.cleanup());

const TOPIC = 'redeliver/t';
/** Published in this order; the subscriber's Receive Maximum of 8 keeps the last two queued. */
const PLAN = [
  ['a', 1],
  ['b', 1],
  ['c', 1],
  ['d', 2],
  ['e', 2],
  ['f', 2],
  ['g', 2],
  ['h', 1],
  ['i', 2],
  ['j', 1],
] as const;
const WINDOW = 8;
/** QoS 2 deliveries the subscriber PUBRECs before the kill (so the broker waits for PUBCOMP). */
const RECEIVED = new Set(['d', 'f']);

/** Each packet as `cmd name dup` (name from the payload, or from the packet id map for PUBREL). */
function describePackets(packets: Packet[], names: Map<number, string>): string[] {
  return packets.map((p) => {
    if (p.cmd === 'publish') return `publish ${p.payload.toString()} q${p.qos}${p.dup ? ' dup' : ''}`;
    return `${p.cmd} ${names.get(p.messageId ?? -1) ?? `#${p.messageId}`}`;
  });
}

const SESSION = { clean: false, properties: { sessionExpiryInterval: 300, receiveMaximum: WINDOW } };

async function resume(port: number): Promise<Wire> {
  const sub = await lab.wire(port, 5);
  const connack = await sub.connect('redeliver-sub', SESSION);
  expect(connack.sessionPresent).toBe(true);
  return sub;
}

describe('kill -9 with deliveries in flight', () => {
  it('[MQTT-4.4.0-1] unacknowledged PUBLISHes come back with DUP=1 in order, and PUBREC\'d QoS 2 ones as PUBREL', async () => {
    assertBuilt();
    let broker = await lab.start(lab.dataDir());
    let sub = await lab.wire(broker.port, 5);
    await sub.connect('redeliver-sub', SESSION);
    await sub.subscribe(1, [{ topic: 'redeliver/#', qos: 2 }]);
    const pub = await lab.connectMqtt(broker.port, { clientId: 'redeliver-pub', protocolVersion: 5 });
    for (const [name, qos] of PLAN) await pub.publishAsync(TOPIC, name, { qos });
    await pub.endAsync();

    const first = await sub.take(WINDOW);
    const expectedFirst = PLAN.slice(0, WINDOW).map(([name, qos]) => `publish ${name} q${qos}`);
    const names = new Map(first.map((p) => [p.messageId as number, (p as IPublishPacket).payload.toString()]));
    expect(describePackets(first, names)).toEqual(expectedFirst);
    const ids = new Map([...names].map(([id, name]) => [name, id]));
    const idOf = (name: string) => ids.get(name) as number;
    // PUBREC d and f: the broker answers PUBREL and now waits for PUBCOMP
    for (const name of RECEIVED) sub.send({ cmd: 'pubrec', messageId: idOf(name) } as Packet);
    expect(describePackets(await sub.take(RECEIVED.size), names)).toEqual([...RECEIVED].map((n) => `pubrel ${n}`));
    await sub.barrier(100); // the 'pubrel' states are committed
    broker = await lab.crashAndRestart(broker);

    sub = await resume(broker.port);
    const resent = await sub.take(WINDOW);
    const expectedResent = PLAN.slice(0, WINDOW).map(([name, qos]) => (RECEIVED.has(name) ? `pubrel ${name}` : `publish ${name} q${qos} dup`));
    expect(describePackets(resent, names), 'redelivery after restart').toEqual(expectedResent);
    for (const p of resent) if (p.cmd === 'publish') expect(p.payload.toString(), 'original packet id').toBe(names.get(p.messageId as number));
    expect(await sub.drain(200), 'nothing beyond the window').toEqual([]);

    // Finish every exchange; the two queued messages follow as first deliveries (DUP=0)
    for (const [name, qos] of PLAN.slice(0, WINDOW)) {
      if (qos === 1) sub.send({ cmd: 'puback', messageId: idOf(name) } as Packet);
      else if (RECEIVED.has(name)) sub.send({ cmd: 'pubcomp', messageId: idOf(name) } as Packet);
      else sub.send({ cmd: 'pubrec', messageId: idOf(name) } as Packet);
    }
    const rest = await sub.take(4);
    const publishes = rest.filter((p): p is IPublishPacket => p.cmd === 'publish');
    expect(publishes.map((p) => `${p.payload.toString()} q${p.qos}${p.dup ? ' dup' : ''}`)).toEqual(['i q2', 'j q1']);
    for (const p of publishes) names.set(p.messageId as number, p.payload.toString());
    expect(describePackets(rest.filter((p) => p.cmd !== 'publish'), names).sort()).toEqual(['pubrel e', 'pubrel g']);
    const iId = (publishes[0] as IPublishPacket).messageId as number;
    const jId = (publishes[1] as IPublishPacket).messageId as number;
    sub.send({ cmd: 'pubrec', messageId: iId } as Packet);
    sub.send({ cmd: 'puback', messageId: jId } as Packet);
    expect(describePackets(await sub.take(1), names)).toEqual(['pubrel i']);
    for (const name of ['e', 'g']) sub.send({ cmd: 'pubcomp', messageId: idOf(name) } as Packet);
    sub.send({ cmd: 'pubcomp', messageId: iId } as Packet);
    await sub.barrier(101);

    // Completed deliveries stay completed across another kill
    broker = await lab.crashAndRestart(broker);
    sub = await resume(broker.port);
    expect(describePackets(await sub.drain(300), names), 'nothing left to redeliver').toEqual([]);
    expect(lab.brokerErrors()).toEqual([]);
  });

  it('MQTT 3.1.1: the queue and the in-flight window survive kill -9 in order', async () => {
    assertBuilt();
    let broker = await lab.start(lab.dataDir());
    let sub = await lab.wire(broker.port, 4);
    await sub.connect('redeliver-311', { clean: false });
    await sub.subscribe(1, [{ topic: 'redeliver/#', qos: 2 }]);
    await sub.barrier(2);
    sub.close(); // offline: what follows is queued
    const pub = await lab.connectMqtt(broker.port, { clientId: 'redeliver-pub-311' });
    for (const [name, qos] of PLAN) await pub.publishAsync(TOPIC, name, { qos });
    broker = await lab.crashAndRestart(broker);

    sub = await lab.wire(broker.port, 4);
    expect((await sub.connect('redeliver-311', { clean: false })).sessionPresent).toBe(true);
    const queued = await sub.take(PLAN.length);
    expect(queued.map((p) => (p.cmd === 'publish' ? `${p.payload.toString()} q${p.qos}${p.dup ? ' dup' : ''}` : p.cmd))).toEqual(
      PLAN.map(([name, qos]) => `${name} q${qos}`),
    );
    // Received, none acknowledged: all ten are in flight now, and come back once more after a kill
    await sub.barrier(3);
    broker = await lab.crashAndRestart(broker);
    sub = await lab.wire(broker.port, 4);
    expect((await sub.connect('redeliver-311', { clean: false })).sessionPresent).toBe(true);
    const again = await sub.take(PLAN.length);
    expect(again.map((p) => (p.cmd === 'publish' ? `${p.payload.toString()} q${p.qos}${p.dup ? ' dup' : ''}` : p.cmd))).toEqual(
      PLAN.map(([name, qos]) => `${name} q${qos} dup`),
    );
    expect(again.map((p) => p.messageId)).toEqual(queued.map((p) => p.messageId));
    expect(lab.brokerErrors()).toEqual([]);
  });
});
