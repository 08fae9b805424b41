/**
 * QoS 2 ingress across a kill (docs/cluster.md, Guarantees): the node that accepted a QoS 2
 * PUBLISH dies between writing the session record that names the message's id and its JetStream
 * append, or between the append and the PUBREC. The publisher resends the PUBLISH to another node
 * or to the restarted node, with DUP=0 (as mqtt.js 5.16 does) and then DUP=1: the message is stored
 * once and delivered once, and no PUBREC goes out for a message that is not stored. The kill is
 * placed by the test hook MIDGE_CRASH_QOS2 (the node SIGKILLs itself there, as kill -9 would).
 */
import { describe, expect, it } from 'vitest';
import type { IConnackPacket, IPublishPacket, Packet } from 'mqtt-packet';
import type { NatsConnection } from 'nats';
import { hasNats, until, useNats } from '../helpers/cluster.js';
import { sleep, type BrokerProcess, type Wire } from '../crash/helpers.js';
import { decodeMessage } from '../../src/store/records.js';

const env = useNats('cluster QoS 2 ingress tests');
const lab = env.lab;

/** The payloads the MSGS stream of cluster `prefix` holds. */
async function storedPayloads(nc: NatsConnection, prefix: string): Promise<string[]> {
  const stream = `${prefix.toUpperCase()}_MSGS`;
  const jsm = await nc.jetstreamManager();
  const { first_seq: first, last_seq: last } = (await jsm.streams.info(stream)).state;
  const payloads: string[] = [];
  for (let seq = first; seq <= last && last > 0; seq++) payloads.push(Buffer.from(decodeMessage((await jsm.streams.getMessage(stream, { seq })).data).payload).toString());
  return payloads;
}

/** A persistent QoS 2 subscriber on `port` that completes every exchange and counts payloads (each delivery, by packet). */
async function subscriber(port: number, clientId: string, topic: string): Promise<{ wire: Wire; got: string[] }> {
  const wire = await lab.wire(port, 4);
  await wire.connect(clientId, { clean: false });
  await wire.subscribe(1, [{ topic, qos: 2 }]);
  const got: string[] = [];
  wire.listen((p) => {
    if (p.cmd === 'publish') {
      const publish = p as IPublishPacket;
      got.push(publish.payload.toString());
      wire.send({ cmd: 'pubrec', messageId: publish.messageId } as Packet);
    } else if (p.cmd === 'pubrel') wire.send({ cmd: 'pubcomp', messageId: p.messageId } as Packet);
  });
  return { wire, got };
}

/** Sends QoS 2 PUBLISH `id` with `payload`; the node kills itself at the hook, so no PUBREC may arrive. */
async function publishIntoKill(node: BrokerProcess, clientId: string, topic: string, id: number, payload: string): Promise<void> {
  const pub = await lab.wire(node.port, 4);
  await pub.connect(clientId, { clean: false });
  pub.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 2, retain: false, dup: false, messageId: id } as Packet);
  const exit = await node.exited;
  expect(exit.signal, `the node killed itself at the hook; stderr: ${node.stderr}`).toBe('SIGKILL');
  await pub.closed;
  expect(pub.received.filter((p) => p.cmd === 'pubrec'), 'no PUBREC before the kill').toEqual([]);
}

/** Resends PUBLISH `id` with DUP=0, then DUP=1 (each answered PUBREC), then PUBREL → PUBCOMP. */
async function resend(port: number, clientId: string, topic: string, id: number, payload: string): Promise<void> {
  const pub = await lab.wire(port, 4);
  expect(((await pub.connect(clientId, { clean: false })) as IConnackPacket).sessionPresent).toBe(true);
  for (const dup of [false, true]) {
    pub.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 2, retain: false, dup, messageId: id } as Packet);
    expect((await pub.next('pubrec', 20_000)).messageId, `PUBREC for the resend with DUP=${dup ? 1 : 0}`).toBe(id);
  }
  pub.send({ cmd: 'pubrel', messageId: id } as Packet);
  expect((await pub.next('pubcomp', 20_000)).messageId).toBe(id);
}

describe.skipIf(!hasNats)('QoS 2 ingress across a kill (real nats-server, child processes)', () => {
  it('killed after the record named the message id and before the append: the resend to another node stores it, once', async () => {
    const prefix = env.prefix('q2r');
    const a = await env.spawn(prefix, 'a', 0, { MIDGE_CRASH_QOS2: 'recorded' });
    const b = await env.spawn(prefix, 'b');
    const sub = await subscriber(b.port, 'q2r-sub', 'q2r/#');
    await publishIntoKill(a, 'q2r-pub', 'q2r/t', 7, 'lost-unless-resent');
    const nc = await env.connect();
    try {
      expect(await storedPayloads(nc, prefix), 'nothing stored at the kill').toEqual([]);
      await resend(b.port, 'q2r-pub', 'q2r/t', 7, 'lost-unless-resent');
      await until(() => sub.got.length >= 1, 'the delivery of the resent message', 20_000);
      await sleep(1000); // a second copy would arrive within this
      expect(sub.got, 'delivered once').toEqual(['lost-unless-resent']);
      expect(await storedPayloads(nc, prefix), 'stored once').toEqual(['lost-unless-resent']);
    } finally {
      await nc.close();
    }
  }, 90_000);

  it('killed after the append and before the PUBREC: the resend to the restarted node is not stored again', async () => {
    const prefix = env.prefix('q2a');
    const a = await env.spawn(prefix, 'a', 0, { MIDGE_CRASH_QOS2: 'appended' });
    const b = await env.spawn(prefix, 'b');
    const sub = await subscriber(b.port, 'q2a-sub', 'q2a/#');
    await publishIntoKill(a, 'q2a-pub', 'q2a/t', 9, 'stored-before-kill');
    const nc = await env.connect();
    try {
      expect(await storedPayloads(nc, prefix), 'stored before the kill').toEqual(['stored-before-kill']);
      const restarted = await lab.restart(a); // same node id, a new incarnation, no crash hook
      await resend(restarted.port, 'q2a-pub', 'q2a/t', 9, 'stored-before-kill');
      await until(() => sub.got.length >= 1, 'the delivery of the message', 20_000);
      await sleep(1000);
      expect(sub.got, 'delivered once').toEqual(['stored-before-kill']);
      expect(await storedPayloads(nc, prefix), 'stored once').toEqual(['stored-before-kill']);
      // A new message reusing the packet id after PUBCOMP is a new message
      await exchange(restarted.port, 'q2a-pub', 'q2a/t', 9, 'next');
      await until(() => sub.got.length >= 2, 'the delivery of the next message', 20_000);
      expect(await storedPayloads(nc, prefix)).toEqual(['stored-before-kill', 'next']);
    } finally {
      await nc.close();
    }
  }, 90_000);
});

/** A complete QoS 2 exchange of a new message with packet id `id`. */
async function exchange(port: number, clientId: string, topic: string, id: number, payload: string): Promise<void> {
  const pub = await lab.wire(port, 4);
  expect(((await pub.connect(clientId, { clean: false })) as IConnackPacket).sessionPresent).toBe(true);
  pub.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 2, retain: false, dup: false, messageId: id } as Packet);
  expect((await pub.next('pubrec', 20_000)).messageId).toBe(id);
  pub.send({ cmd: 'pubrel', messageId: id } as Packet);
  expect((await pub.next('pubcomp', 20_000)).messageId).toBe(id);
}
