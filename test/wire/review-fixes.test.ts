/**
 * Wire tests for the fixes of the code review (commit "Review fixes: ..."): raw frames, so that
 * the exact bytes the broker sends (reason strings, CONNACK flags, DUP, packet counts) are checked.
 */
import net from 'node:net';
import mqttPacket, { type IPublishPacket, type Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { Drop, Plugin } from '../../src/index.js';
import { collect, sleep, until } from '../helpers/broker.js';
import type { RawClient } from '../helpers/raw.js';
import { Wire, connectFrame, expectClosedSilently, expectConnackRefusal, props, Prop, publishFrame } from './wire.js';

const w = new Wire();
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await w.cleanup();
});

/** A plain TCP socket that records every byte the broker sends (for frames mqtt-packet might refuse). */
async function byteSocket(port: number): Promise<{ socket: net.Socket; bytes: () => Buffer; closed: Promise<void> }> {
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  sockets.push(socket);
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, bytes: () => Buffer.concat(chunks), closed };
}

/** Parses a whole byte stream; reports the packets and the first parse error, if any. */
function parseAll(bytes: Buffer, protocolVersion: number): { packets: Packet[]; error: Error | undefined } {
  const parser = mqttPacket.parser({ protocolVersion });
  const packets: Packet[] = [];
  let error: Error | undefined;
  parser.on('packet', (p: Packet) => packets.push(p));
  parser.on('error', (e: Error) => (error ??= e));
  parser.parse(bytes);
  return { packets, error };
}

/** Resolves when `socket` closes; rejects after `ms`. */
function closedWithin<T>(closed: Promise<T>, ms: number): Promise<T> {
  return Promise.race([closed, sleep(ms).then(() => Promise.reject(new Error(`still open after ${ms} ms`)))]);
}

function publishes(c: RawClient): IPublishPacket[] {
  return c.packets.filter((p): p is IPublishPacket => p.cmd === 'publish');
}

async function subscribe(c: RawClient, topic: string, qos: 0 | 1 | 2): Promise<void> {
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] } as Packet);
  await c.next('suback');
}

describe('review fix 3: reason strings are short', () => {
  it('5.0: a 40 KB topic with "+" gets DISCONNECT 0x90 whose bytes parse, with a reason string of at most 101 characters', async () => {
    await w.start();
    const s = await byteSocket(w.port);
    // '"' doubles in JSON, so echoing the topic would make a reason string over 65535 bytes
    const topic = `a/+/${'"'.repeat(40_000)}`;
    s.socket.write(connectFrame({ level: 5, clientId: 'huge-topic' }));
    s.socket.write(publishFrame({ topic, properties: props(), payload: 'x' }));
    await closedWithin(s.closed, 3000);
    const bytes = s.bytes();
    const { packets, error } = parseAll(bytes, 5);
    expect(error).toBeUndefined();
    expect(packets.map((p) => p.cmd)).toEqual(['connack', 'disconnect']);
    const disconnect = packets[1] as { reasonCode?: number; length: number; properties?: { reasonString?: string } };
    expect(disconnect.reasonCode).toBe(0x90);
    expect(disconnect.properties?.reasonString?.length ?? 0).toBeLessThanOrEqual(101);
    expect(disconnect.length).toBeLessThan(200); // Remaining Length of the DISCONNECT
  });

  it('[MQTT-3.1.2-29] 5.0: a client with Maximum Packet Size 128 gets DISCONNECT 0x90 without a reason string', async () => {
    await w.start();
    const { c } = await w.connected(5, { properties: { maximumPacketSize: 128 } });
    c.send({ cmd: 'publish', topic: 'a/+', payload: Buffer.from('x'), qos: 0, dup: false, retain: false } as Packet);
    await c.waitClosed();
    expect(c.packets.map((p) => p.cmd)).toEqual(['disconnect']);
    const disconnect = c.packets[0] as { reasonCode?: number; properties?: { reasonString?: string } };
    expect(disconnect.reasonCode).toBe(0x90);
    expect(disconnect.properties?.reasonString).toBeUndefined();
  });

  it('[MQTT-3.2.2-19] 5.0: a CONNACK refusal is not larger than the Maximum Packet Size of the CONNECT', async () => {
    await w.start();
    const s = await byteSocket(w.port);
    // refused with 0x8C; the reason string would echo the 60-character method
    s.socket.write(
      connectFrame({
        level: 5,
        clientId: 'tiny-max',
        properties: props(Buffer.from([0x27, 0, 0, 0, 64]), Prop.authenticationMethod('m'.repeat(60))),
      }),
    );
    await closedWithin(s.closed, 3000);
    const { packets, error } = parseAll(s.bytes(), 5);
    expect(error).toBeUndefined();
    expect(packets.map((p) => p.cmd)).toEqual(['connack']);
    expect((packets[0] as { reasonCode?: number }).reasonCode).toBe(0x8c);
    expect(s.bytes().length).toBeLessThanOrEqual(64);
  });
});

describe('review fix 7: the CONNECT deadline covers authentication', () => {
  it('connectTimeout 300 with an authenticate hook that never resolves: the socket is closed within 1 s, not accepted', async () => {
    const never: Plugin = { authenticate: () => new Promise<boolean>(() => undefined) };
    await w.start({ connectTimeout: 300, plugins: [never] });
    const c = await w.raw(4);
    const started = Date.now();
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'stuck-auth', clean: true, keepalive: 0 } as Packet);
    await c.waitClosed(1500);
    expect(Date.now() - started).toBeLessThan(1000);
    // whatever was sent, the client was not accepted
    expect(c.packets.some((p) => p.cmd === 'connack' && (p as { returnCode?: number }).returnCode === 0)).toBe(false);
    expect(w.tb?.broker.sessionCount).toBe(0);
  });

  it('an authentication that succeeds after the deadline creates no session and no connection', async () => {
    const late: Plugin = { authenticate: () => sleep(600).then(() => true) };
    const tb = await w.start({ connectTimeout: 300, plugins: [late] });
    const c = await w.raw(5);
    c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'late-auth', clean: true, keepalive: 0 } as Packet);
    await c.waitClosed(1500);
    await sleep(500); // past the moment authenticate resolves
    expect(c.packets.some((p) => p.cmd === 'connack' && (p as { reasonCode?: number }).reasonCode === 0)).toBe(false);
    expect(tb.broker.sessionCount).toBe(0);
    expect(tb.broker.clientCount).toBe(0);
  });
});

describe('review fix 11: message expiry of a queued QoS 0 message', () => {
  it('[MQTT-3.3.2-6] a QoS 0 message queued behind a full window is sent with the decremented expiry interval', async () => {
    const tb = await w.start();
    // a second 5.0 subscriber gets the message at once, so its encoding is the broker's most recent one
    const prompt = await tb.client({ protocolVersion: 5 });
    const promptGot = collect(prompt);
    await prompt.subscribeAsync('exp/#', { qos: 0 });
    // the slow subscriber has room for one QoS 1 message
    const { c: slow } = await w.connected(5, { clientId: 'slow', properties: { receiveMaximum: 1 } });
    await subscribe(slow, 'exp/#', 1);

    const pub = await tb.client({ protocolVersion: 5 });
    await pub.publishAsync('exp/1', 'first', { qos: 1 }); // in flight, never acknowledged yet
    await pub.publishAsync('exp/2', 'second', { qos: 1 }); // queued: the window is full
    await pub.publishAsync('exp/3', 'short-lived', { qos: 0, properties: { messageExpiryInterval: 10 } }); // queued behind
    await promptGot.waitFor(3);
    expect(promptGot.messages[2]?.packet.properties?.messageExpiryInterval).toBe(10);
    const first = await slow.next('publish');
    expect((first as IPublishPacket).payload.toString()).toBe('first');

    await sleep(2100);
    slow.send({ cmd: 'puback', messageId: (first as IPublishPacket).messageId } as Packet);
    const second = (await slow.next('publish')) as IPublishPacket;
    const third = (await slow.next('publish')) as IPublishPacket;
    expect(second.payload.toString()).toBe('second');
    expect(third.payload.toString()).toBe('short-lived');
    expect(third.qos).toBe(0);
    expect(third.properties?.messageExpiryInterval).toBeLessThanOrEqual(8);
    expect(third.properties?.messageExpiryInterval).toBeGreaterThanOrEqual(7);
  });
});

describe('review fix 12: DISCONNECT reason codes and the will [MQTT-3.14.4-3]', () => {
  const will = { topic: 'will/dev', payload: Buffer.from('gone'), qos: 1, retain: false };

  it.each([
    ['0x80 (Unspecified error)', 0x80],
    ['0x04 (Disconnect with Will Message)', 0x04],
    ['0x83 (Implementation specific error)', 0x83],
  ])('5.0: DISCONNECT %s keeps the will, which is published', async (_name, reasonCode) => {
    const tb = await w.start();
    const watcher = await tb.client({ protocolVersion: 5 });
    const got = collect(watcher);
    await watcher.subscribeAsync('will/#', { qos: 1 });
    const { c } = await w.connected(5, { clientId: 'dev', will });
    c.send({ cmd: 'disconnect', reasonCode } as Packet);
    await c.waitClosed();
    await got.waitFor(1);
    expect(got.messages[0]).toMatchObject({ topic: 'will/dev', payload: 'gone' });
  });

  it('[MQTT-3.1.2-10] 5.0: DISCONNECT 0x00 discards the will', async () => {
    const tb = await w.start();
    const watcher = await tb.client({ protocolVersion: 5 });
    const got = collect(watcher);
    await watcher.subscribeAsync('will/#', { qos: 1 });
    const { c } = await w.connected(5, { clientId: 'dev', will });
    c.send({ cmd: 'disconnect', reasonCode: 0 } as Packet);
    await c.waitClosed();
    await until(() => tb.broker.clientCount === 1, 'the device to be gone');
    // a message published after the close arrives; the will would have come before it
    await watcher.publishAsync('will/probe', 'probe', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages.map((m) => m.topic)).toEqual(['will/probe']);
  });
});

describe('review fix 13: maxKeepAlive applies only to MQTT 5', () => {
  it.each([3, 4])('level %i: keepalive 60 with maxKeepAlive 1 is not cut to 1 s (still connected after 2.2 s)', async (level) => {
    await w.start({ maxKeepAlive: 1 });
    const { c } = await w.connected(level, { keepalive: 60 });
    await sleep(2200);
    expect(c.closed).toBe(false);
    c.send({ cmd: 'pingreq' });
    await c.next('pingresp');
  });

  it('[MQTT-3.2.2-21] 5.0: keepalive 60 with maxKeepAlive 1 gets Server Keep Alive 1 in CONNACK', async () => {
    await w.start({ maxKeepAlive: 1 });
    const { connack } = await w.connected(5, { keepalive: 60 });
    expect(connack).toMatchObject({ properties: { serverKeepAlive: 1 } });
  });
});

describe('review fix 14: [MQTT-3.1.4-1] a CONNECT that does not conform', () => {
  it.each([
    [3, 'a/+'],
    [4, 'a/+'],
    [4, '#'],
  ])('level %i: a will topic %j is closed without any CONNACK', async (level, topic) => {
    await w.start();
    const c = await w.raw(level);
    c.send({
      cmd: 'connect',
      protocolId: level === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: level,
      clientId: 'bad-will',
      clean: true,
      keepalive: 0,
      will: { topic, payload: Buffer.from('x'), qos: 0, retain: false },
    } as Packet);
    await expectClosedSilently(c);
    expect(w.tb?.broker.sessionCount).toBe(0);
  });

  it('5.0: a will topic with a wildcard gets CONNACK 0x90 (Topic Name invalid), then close', async () => {
    await w.start();
    const c = await w.raw(5);
    c.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 5,
      clientId: 'bad-will5',
      clean: true,
      keepalive: 0,
      will: { topic: 'a/+', payload: Buffer.from('x'), qos: 0, retain: false },
    } as Packet);
    await expectConnackRefusal(c, 0x90, 5);
    expect(w.tb?.broker.sessionCount).toBe(0);
  });
});

describe('review fix 16: MQTT 3.1 CONNACK', () => {
  async function reconnectBytes(level: 3 | 4): Promise<Buffer> {
    const tb = await w.start();
    const first = await w.raw(level);
    await first.handshake({ clientId: `resumed-${level}`, clean: false });
    first.close();
    await until(() => tb.broker.clientCount === 0, 'the first connection to be gone');
    const second = await w.raw(level);
    const bytes: Buffer[] = [];
    second.socket.on('data', (d: Buffer) => bytes.push(d));
    await second.handshake({ clientId: `resumed-${level}`, clean: false });
    return Buffer.concat(bytes).subarray(0, 4);
  }

  it('3.1 (level 3): the first variable-header byte is 0 even when a session was resumed', async () => {
    expect([...(await reconnectBytes(3))]).toEqual([0x20, 0x02, 0x00, 0x00]);
  });

  it('[MQTT-3.2.2-2] 3.1.1 (level 4): the same reconnection has Session Present 1', async () => {
    expect([...(await reconnectBytes(4))]).toEqual([0x20, 0x02, 0x01, 0x00]);
  });
});

describe('review fix 17: a smaller Receive Maximum on resume [MQTT-3.3.4-9]', () => {
  it('6 unacknowledged QoS 1 messages, reconnect with Receive Maximum 2: 2 resent with DUP=1, the rest follow as acks arrive, in order, none lost', async () => {
    const tb = await w.start();
    const session = { clientId: 'shrink', clean: false, properties: { sessionExpiryInterval: 60, receiveMaximum: 10 } };
    const { c: first } = await w.connected(5, session);
    await subscribe(first, 'rm/#', 1);
    const pub = await tb.client({ protocolVersion: 4 });
    const payloads = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'];
    for (const p of payloads) await pub.publishAsync('rm/t', p, { qos: 1 });
    await until(() => publishes(first).length === 6, 'six deliveries to the first connection');
    const originalIds = new Map(publishes(first).map((p) => [p.payload.toString(), p.messageId]));
    first.close(); // no PUBACK for any of them
    await until(() => tb.broker.clientCount === 1, 'the first connection to be gone');

    const { c: back } = await w.connected(5, { ...session, properties: { sessionExpiryInterval: 60, receiveMaximum: 2 } });
    const unacked: IPublishPacket[] = [(await back.next('publish')) as IPublishPacket, (await back.next('publish')) as IPublishPacket];
    await sleep(300);
    expect(publishes(back)).toEqual([]); // nothing beyond the new Receive Maximum
    expect(unacked.map((p) => [p.payload.toString(), p.dup])).toEqual([
      ['m1', true],
      ['m2', true],
    ]);

    const order: string[] = unacked.map((p) => p.payload.toString());
    const resent: IPublishPacket[] = [...unacked];
    for (let i = 0; i < payloads.length; i++) {
      const oldest = unacked.shift() as IPublishPacket;
      back.send({ cmd: 'puback', messageId: oldest.messageId, reasonCode: 0 } as Packet);
      if (order.length < payloads.length) {
        const next = (await back.next('publish')) as IPublishPacket;
        unacked.push(next);
        resent.push(next);
        order.push(next.payload.toString());
        expect(unacked.length).toBeLessThanOrEqual(2);
      }
    }
    // [MQTT-4.4.0-1] every one of them might have been received: all resent with DUP=1 and the original packet id
    expect(resent.map((p) => [p.payload.toString(), p.dup, p.messageId])).toEqual(payloads.map((p) => [p, true, originalIds.get(p)]));
    await sleep(200);
    expect(order).toEqual(payloads);
    expect(publishes(back)).toEqual([]); // no duplicates after the last ack
  });
});

describe('review fix 18: a negative acknowledgement from a 5.0 client', () => {
  it.each([
    ['PUBACK', 1],
    ['PUBREC', 2],
  ] as const)('%s with reason code 0x80 counts the message as dropped (refused), not delivered', async (ack, qos) => {
    const drops: Drop[] = [];
    const tb = await w.start({ plugins: [{ onDropped: (d) => drops.push(d) }] });
    const { c } = await w.connected(5, { clientId: 'refuser' });
    await subscribe(c, 'ref/#', qos);
    const pub = await tb.client({ protocolVersion: 4 });
    await pub.publishAsync('ref/1', 'unwanted', { qos });
    const delivery = (await c.next('publish')) as IPublishPacket;
    c.send({ cmd: ack === 'PUBACK' ? 'puback' : 'pubrec', messageId: delivery.messageId, reasonCode: 0x80 } as Packet);
    await until(() => tb.broker.stats.dropped.refused === 1, 'the refused drop to be counted');
    expect(tb.broker.stats.messagesSent).toBe(0);
    expect(drops).toEqual([expect.objectContaining({ clientId: 'refuser', reason: 'refused' })]);
    expect(drops[0]?.message.topic).toBe('ref/1');
    // the window slot is free again: the next message is delivered
    await pub.publishAsync('ref/2', 'wanted', { qos });
    expect(((await c.next('publish')) as IPublishPacket).payload.toString()).toBe('wanted');
  });
});
