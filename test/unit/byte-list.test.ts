import bl from 'bl';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { ByteList } from '../../src/protocol/byte-list.js';
import { Decoder } from '../../src/protocol/codec.js';

/** A seeded generator (mulberry32), so that a failure can be replayed. */
function prng(seed: number): (n: number) => number {
  let a = seed;
  return (n) => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/** The result of a read, or the error it threw, in a form toEqual compares. */
function outcome(read: () => unknown): unknown {
  try {
    return { value: read() };
  } catch (err) {
    return { error: (err as Error).constructor.name, code: (err as { code?: string }).code };
  }
}

/** Splits `bytes` into chunks of 1 to `max` bytes. */
function chunks(bytes: Buffer, random: (n: number) => number, max: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const size = 1 + random(max);
    out.push(Buffer.from(bytes.subarray(at, at + size)));
    at += size;
  }
  return out;
}

describe('ByteList answers as bl does', () => {
  it.each([1, 2, 3, 4, 5])('random appends, consumes and reads give bl’s results and errors (seed %i)', (seed) => {
    const random = prng(seed);
    const ours = new ByteList();
    const theirs = new bl.BufferList();
    for (let step = 0; step < 3000; step++) {
      const op = random(8);
      const offset = random(ours.length + 6) - 1;
      const end = offset + random(12) - 2;
      if (op === 0) {
        const chunk = Buffer.from(Array.from({ length: random(9) }, () => random(256)));
        ours.append(chunk);
        theirs.append(chunk);
      } else if (op === 1) {
        const bytes = random(Math.min(ours.length, 10) + 2);
        ours.consume(bytes);
        theirs.consume(bytes);
      } else if (op === 2) {
        expect(outcome(() => ours.readUInt8(offset))).toEqual(outcome(() => theirs.readUInt8(offset)));
      } else if (op === 3) {
        expect(outcome(() => ours.readUInt16BE(offset))).toEqual(outcome(() => theirs.readUInt16BE(offset)));
      } else if (op === 4) {
        expect(outcome(() => ours.readUInt32BE(offset))).toEqual(outcome(() => theirs.readUInt32BE(offset)));
      } else if (op === 5) {
        expect(outcome(() => ours.slice(offset, end))).toEqual(outcome(() => theirs.slice(offset, end)));
      } else if (op === 6) {
        expect(outcome(() => ours.toString('utf8', offset, end))).toEqual(outcome(() => theirs.toString('utf8', offset, end)));
      } else {
        expect(outcome(() => ours.slice(0, ours.length))).toEqual(outcome(() => theirs.slice(0, theirs.length)));
      }
      expect(ours.length).toBe(theirs.length);
    }
  });

  it('a slice of a packet stays a view of the received bytes, as with bl (no copy)', () => {
    const chunk = Buffer.from([1, 2, 3, 4, 5, 6]);
    const list = new ByteList();
    list.append(chunk);
    list.consume(2);
    const view = list.slice(1, 3);
    expect([...view]).toEqual([4, 5]);
    expect(view.buffer).toBe(chunk.buffer);
  });
});

const PROPERTIES = { contentType: 'text/plain', userProperties: { a: 'b', c: ['d', 'e'] }, correlationData: Buffer.from([0, 1]), messageExpiryInterval: 60 };

/** A CONNECT at `version` followed by a mix of the packets a client sends. */
function session(version: 4 | 5, random: (n: number) => number): Buffer {
  const packets: Record<string, unknown>[] = [
    { cmd: 'connect', protocolVersion: version, clientId: 'c', clean: true, keepalive: 30, ...(version === 5 ? { properties: { sessionExpiryInterval: 10 } } : {}) },
  ];
  for (let i = 0; i < 300; i++) {
    const qos = random(3);
    const payload = Buffer.from(Array.from({ length: random(3) === 0 ? random(400) : random(80) }, () => random(256)));
    const kind = random(6);
    if (kind <= 2) {
      const properties = version === 5 && random(2) === 0 ? { properties: PROPERTIES } : {};
      // Repeated topics (reused by the decoder) and new ones, of equal and different lengths
      const topic = random(2) === 0 ? `t/${'é'.repeat(random(3))}/${random(3)}` : `t/${i}`;
      packets.push({ cmd: 'publish', topic, payload, qos, retain: random(2) === 1, dup: false, ...(qos > 0 ? { messageId: 1 + i } : {}), ...properties });
    } else if (kind === 3) {
      packets.push({ cmd: 'puback', messageId: 1 + i });
    } else if (kind === 4) {
      packets.push({ cmd: 'subscribe', messageId: 1 + i, subscriptions: [{ topic: 'a/+/#', qos }] });
    } else {
      packets.push({ cmd: 'pingreq' });
    }
  }
  return Buffer.concat(packets.map((p) => mqttPacket.generate(p as unknown as mqttPacket.Packet, { protocolVersion: version })));
}

describe('the Decoder reads what mqtt-packet reads', () => {
  it.each([
    [4, 1, 3],
    [4, 2, 64],
    [5, 3, 3],
    [5, 4, 64],
    [5, 5, 2000],
  ] as const)('MQTT %i stream cut into random chunks: the same packets, field for field (seed %i, chunks up to %i bytes)', (version, seed, max) => {
    const random = prng(seed);
    const ours: unknown[] = [];
    const theirs: unknown[] = [];
    const decoder = new Decoder({ packetDecoded: (p) => ours.push(p), decodeFailed: (e) => ours.push(e) });
    const reference = mqttPacket.parser();
    reference.on('packet', (p) => theirs.push(p));
    reference.on('error', (e) => theirs.push(e));
    for (const chunk of chunks(session(version, random), random, max)) {
      decoder.write(chunk);
      reference.parse(chunk);
    }
    expect(ours.length).toBe(301);
    expect(ours).toEqual(theirs);
  });

  const publish = (topic: Buffer) => {
    const frame = mqttPacket.generate({ cmd: 'publish', topic: 'x'.repeat(topic.length), payload: Buffer.from('p'), qos: 0, dup: false, retain: false });
    topic.copy(frame, 4); // the Topic Name starts after the type byte, the length byte and its own length
    return frame;
  };

  it('[MQTT-1.5.4-1] a Topic Name the length of the previous one but ill-formed is still refused', () => {
    const seen: unknown[] = [];
    const decoder = new Decoder({ packetDecoded: (p) => seen.push((p as { topic: string }).topic), decodeFailed: (e) => seen.push({ error: e.message }) });
    decoder.write(mqttPacket.generate({ cmd: 'connect', protocolVersion: 4, clientId: 'c', clean: true, keepalive: 0 }));
    seen.length = 0;
    decoder.write(publish(Buffer.from('a/é')));
    decoder.write(publish(Buffer.from('a/é')));
    decoder.write(publish(Buffer.from([0x61, 0x2f, 0xc3, 0x28])));
    expect(seen).toEqual(['a/é', 'a/é', { error: 'Cannot parse topic' }]);
  });

  it('a repeated Topic Name decodes to the same text, and a different one of the same length is decoded anew', () => {
    const topics: string[] = [];
    const decoder = new Decoder({ packetDecoded: (p) => topics.push((p as { topic: string }).topic), decodeFailed: (e) => { throw e; } });
    for (const topic of ['s/1', 's/1', 's/2', 's/2', 's/1']) decoder.write(publish(Buffer.from(topic)));
    expect(topics).toEqual(['s/1', 's/1', 's/2', 's/2', 's/1']);
  });
});
