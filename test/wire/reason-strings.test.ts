/**
 * Reason strings stay short and packets stay within the client's Maximum Packet Size: raw frames,
 * so that the exact bytes the broker sends are checked.
 */
import net from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep } from '../helpers/broker.js';
import { connectFrame, props, Prop, publishFrame } from '../helpers/frames.js';
import { WireHarness } from './harness.js';

const w = new WireHarness();
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

describe('reason strings are short', () => {
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
