/**
 * A small, bounded, deterministic fuzz: random and mutated bytes on fresh connections.
 * Whatever arrives, the broker must answer per spec or close, never log an unexpected error,
 * and keep serving normal clients. A failure names the seed-derived case so it can be replayed.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { collect } from '../helpers/broker.js';
import type { Wire } from '../helpers/wire.js';
import { connectFrame, frame, props, varint } from '../helpers/frames.js';
import { prng } from '../helpers/prng.js';
import { WireHarness } from './harness.js';

const w = new WireHarness();
afterEach(() => w.cleanup());

/** Override to explore further: MIDGE_FUZZ_SEED=123 MIDGE_FUZZ_CASES=20000 npx vitest run test/wire/fuzz.test.ts */
const SEED = Number(process.env.MIDGE_FUZZ_SEED ?? 0x6d1d9e);
const CASES = Number(process.env.MIDGE_FUZZ_CASES ?? 300);
const BATCH = 25;

interface Case {
  version: 4 | 5;
  bytes: Buffer;
}

/** Valid packets a client may send, as seeds for mutation. */
function validPackets(version: 4 | 5): Buffer[] {
  const v5 = version === 5;
  const packets: Packet[] = [
    { cmd: 'publish', topic: 'fuzz/a', payload: Buffer.from('hello'), qos: 0, retain: false, dup: false },
    { cmd: 'publish', topic: 'fuzz/b', payload: Buffer.from('x'), qos: 1, messageId: 10, retain: false, dup: false },
    {
      cmd: 'publish',
      topic: 'fuzz/c',
      payload: Buffer.alloc(40, 1),
      qos: 2,
      messageId: 11,
      retain: false,
      dup: false,
      ...(v5 ? { properties: { topicAlias: 2, contentType: 'text/plain', userProperties: { k: 'v' }, messageExpiryInterval: 60 } } : {}),
    },
    { cmd: 'subscribe', messageId: 12, subscriptions: [{ topic: 'fuzz/+', qos: 1 }, { topic: '$share/g/fuzz/#', qos: 2 }], ...(v5 ? { properties: { subscriptionIdentifier: 7 } } : {}) },
    { cmd: 'unsubscribe', messageId: 13, unsubscriptions: ['fuzz/+', 'other'] },
    { cmd: 'puback', messageId: 14 },
    { cmd: 'pubrec', messageId: 15 },
    { cmd: 'pubrel', messageId: 16 },
    { cmd: 'pubcomp', messageId: 17 },
    { cmd: 'pingreq' },
    { cmd: 'disconnect', ...(v5 ? { reasonCode: 0x04, properties: { sessionExpiryInterval: 0 } } : {}) },
  ];
  return packets.map((p) => mqttPacket.generate(p, { protocolVersion: version }));
}

/** Builds the fuzz cases: pure noise, random bodies behind plausible headers, and mutated valid packets. */
function makeCases(count: number): Case[] {
  const rand = prng(SEED);
  const int = (n: number) => Math.floor(rand() * n);
  const noise = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  const seeds = { 4: validPackets(4), 5: validPackets(5) };
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const version = rand() < 0.5 ? 4 : 5;
    const kind = i % 3;
    let bytes: Buffer;
    if (kind === 0) {
      bytes = noise(1 + int(64));
    } else if (kind === 1) {
      const body = noise(int(48));
      bytes = Buffer.concat([Buffer.from([(1 + int(15)) * 16 + int(16)]), varint(body.length), body]);
    } else {
      const pool = seeds[version];
      bytes = Buffer.from(pool[int(pool.length)] as Buffer);
      for (let m = 1 + int(3); m > 0; m--) {
        const op = int(4);
        if (op === 0 && bytes.length > 1) bytes = bytes.subarray(0, 1 + int(bytes.length - 1)); // truncate
        else if (op === 1) {
          const at = int(bytes.length);
          bytes[at] = (bytes[at] as number) ^ (1 << int(8)); // flip a bit
        }
        else if (op === 2) bytes[int(bytes.length)] = int(256); // replace a byte
        else bytes = Buffer.concat([bytes, pool[int(pool.length)] as Buffer]); // append another packet
      }
    }
    cases.push({ version, bytes });
  }
  return cases;
}

/** Mutated CONNECT packets, sent as the first packet on a fresh connection. */
function makeConnectCases(count: number): Buffer[] {
  const rand = prng(SEED ^ 0xc0ec7);
  const int = (n: number) => Math.floor(rand() * n);
  const seeds = [
    connectFrame({ clientId: 'fuzz-c4', keepalive: 30 }),
    connectFrame({ level: 5, clientId: 'fuzz-c5', properties: props([0x11, 0, 0, 0, 10], [0x21, 0, 5]) }),
    mqttPacket.generate(
      { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'fuzz-w', clean: true, keepalive: 0, username: 'u', password: Buffer.from('p'), will: { topic: 'w/t', payload: Buffer.from('bye'), qos: 1, retain: false } },
      { protocolVersion: 4 },
    ),
    frame(0x10, [0, 6], 'MQIsdp', [3, 2, 0, 0], [0, 7], 'fuzz-31'),
  ];
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const bytes = Buffer.from(seeds[int(seeds.length)] as Buffer);
    for (let m = 1 + int(3); m > 0; m--) {
      if (rand() < 0.25 && bytes.length > 2) out.push(bytes.subarray(0, 1 + int(bytes.length - 1)));
      bytes[2 + int(bytes.length - 2)] = int(256);
    }
    out.push(bytes);
  }
  return out.slice(0, count);
}

/** Sends `bytes`, half-closes, and waits until the broker has closed its side. */
async function throwAt(c: Wire, bytes: Buffer): Promise<void> {
  c.write(bytes);
  c.socket.end();
  await c.waitClosed(5000);
}

const hex = (b: Buffer) => b.toString('hex');

const ANSWERS = new Set(['puback', 'pubrec', 'pubrel', 'pubcomp', 'suback', 'unsuback', 'pingresp', 'publish', 'disconnect']);

/**
 * What the broker sent back must be well-formed (Wire's parser throws otherwise) and an
 * answer a server may give; a DISCONNECT exists only in 5.0, is last, and carries an error code.
 */
function checkAnswers(version: 4 | 5, packets: Packet[], bytes: Buffer): void {
  const where = `v${version}:${hex(bytes)}`;
  for (const p of packets) expect(ANSWERS.has(p.cmd), `${p.cmd} after ${where}`).toBe(true);
  const disconnects = packets.filter((p) => p.cmd === 'disconnect');
  if (version === 4) expect(disconnects, where).toEqual([]);
  if (disconnects.length === 0) return;
  expect(disconnects.length, where).toBe(1);
  expect(packets.at(-1)?.cmd, where).toBe('disconnect');
  expect((disconnects[0] as { reasonCode?: number }).reasonCode, where).toBeGreaterThanOrEqual(0x80);
}

describe('bounded fuzz', () => {
  it(`${CASES} random or mutated inputs after CONNECT (seed ${SEED}); the broker then still serves a normal client`, async () => {
    const tb = await w.start({ maxPacketSize: 4096 });
    const watcher = await tb.client({ protocolVersion: 5 });
    const got = collect(watcher);
    await watcher.subscribeAsync('fuzz/#');
    const cases = makeCases(CASES);
    const started = Date.now();
    for (let i = 0; i < cases.length; i += BATCH) {
      const batch = cases.slice(i, i + BATCH);
      await Promise.all(
        batch.map(async ({ version, bytes }) => {
          const { c } = await w.connected(version);
          await throwAt(c, bytes);
          checkAnswers(version, c.packets, bytes);
        }),
      );
      const errors = w.logs.filter((l) => l.level >= 50);
      expect(errors, `cases ${i}..${i + batch.length - 1}: ${batch.map((b) => `v${b.version}:${hex(b.bytes)}`).join(' ')}`).toEqual([]);
    }
    expect(Date.now() - started).toBeLessThan(CASES * 33);

    await vi.waitFor(() => expect(tb.broker.clientCount).toBe(1));
    const pub = await tb.client();
    const before = got.messages.length;
    await pub.publishAsync('fuzz/after', 'still alive', { qos: 1 });
    await got.waitFor(before + 1);
    expect(got.messages.at(-1)).toMatchObject({ topic: 'fuzz/after', payload: 'still alive' });
  });

  it(`${Math.ceil(CASES / 3)} mutated CONNECT packets on fresh connections; the broker then still accepts a normal client`, async () => {
    const tb = await w.start({ maxPacketSize: 4096 });
    const inputs = makeConnectCases(Math.ceil(CASES / 3));
    for (let i = 0; i < inputs.length; i += BATCH) {
      const batch = inputs.slice(i, i + BATCH);
      await Promise.all(
        batch.map(async (bytes) => {
          const c = await w.raw(bytes[8] === 5 ? 5 : 4);
          await throwAt(c, bytes);
        }),
      );
      const errors = w.logs.filter((l) => l.level >= 50);
      expect(errors, `connect cases ${i}..: ${batch.map(hex).join(' ')}`).toEqual([]);
    }
    await vi.waitFor(() => expect(tb.broker.clientCount).toBe(0));
    const sub = await tb.client();
    const got = collect(sub);
    await sub.subscribeAsync('after');
    await sub.publishAsync('after', 'ok');
    await got.waitFor(1);
  });

  it('the same seed gives the same cases', () => {
    expect(makeCases(20).map((c) => hex(c.bytes))).toEqual(makeCases(20).map((c) => hex(c.bytes)));
  });
});
