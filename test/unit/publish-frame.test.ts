import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { encode, type PublishPacket } from '../../src/protocol/codec.js';
import { encodePlainPublish } from '../../src/protocol/publish-frame.js';
import { PublishEncoder } from '../../src/protocol/publish-encoder.js';
import type { Delivery } from '../../src/broker/inflight.js';
import type { Message } from '../../src/broker/message.js';

const reference = (packet: PublishPacket, version: number) => mqttPacket.generate(packet, { protocolVersion: version });

/** Payload sizes that put the Remaining Length on each side of the 1/2/3-byte Variable Byte Integer limits. */
const SIZES = [0, 1, 64, 120, 121, 122, 126, 127, 128, 16_370, 16_377, 16_383, 16_384, 2_097_140, 2_097_151];

describe('a PUBLISH without properties is written as mqtt-packet writes it', () => {
  it.each([3, 4, 5] as const)('every QoS, DUP and RETAIN, topic and payload size, byte for byte (MQTT level %i)', (version) => {
    let compared = 0;
    for (const topic of ['a', 'sensors/é/温度', '', 'x'.repeat(300)]) {
      for (const size of SIZES) {
        const payload = Buffer.alloc(size, size % 251);
        for (const qos of [0, 1, 2] as const) {
          for (const flags of [0, 1, 2, 3]) {
            const packet: PublishPacket = { cmd: 'publish', topic, payload, qos, dup: (flags & 1) === 1, retain: (flags & 2) === 2 };
            if (qos > 0) packet.messageId = size % 2 === 0 ? 1 : 65_535;
            const ours = encodePlainPublish(packet, version);
            expect(ours).toBeDefined();
            expect((ours as Buffer).equals(reference(packet, version))).toBe(true);
            expect((encodePlainPublish(packet, version, Buffer.from(topic)) as Buffer).equals(ours as Buffer)).toBe(true);
            compared++;
          }
        }
      }
    }
    expect(compared).toBe(4 * SIZES.length * 3 * 4);
  });

  it('leaves to mqtt-packet what it does not write: properties, a string payload, a bad QoS or packet id, an oversize topic', () => {
    const base: PublishPacket = { cmd: 'publish', topic: 't', payload: Buffer.from('p'), qos: 1, messageId: 7, dup: false, retain: false };
    const others: PublishPacket[] = [
      { ...base, properties: {} },
      { ...base, properties: { contentType: 'text/plain' } },
      { ...base, payload: 'text' },
      { ...base, qos: 3 as 0 },
      { ...base, messageId: undefined },
      { ...base, messageId: 70_000 },
      { ...base, topic: 'é'.repeat(40_000) },
    ];
    for (const packet of others) expect(encodePlainPublish(packet, 5)).toBeUndefined();
    // encode() gives them to mqtt-packet, so they come out (or fail) as before
    for (const packet of others.slice(0, 3)) expect(encode(packet, 5)).toEqual(reference(packet, 5));
  });
});

describe('PublishEncoder keeps the last Topic Name encoded', () => {
  it('messages to alternating topics, plain and with properties, come out as mqtt-packet writes them', () => {
    const encoder = new PublishEncoder();
    const topics = ['a/b', 'a/b', 'a/é', 'a/b', 'c', 'c', 'a/é'];
    topics.forEach((topic, id) => {
      const properties = id % 3 === 2 ? { contentType: 'text/plain' } : undefined;
      const message: Message = { id, topic, payload: Buffer.from(`m${id}`), qos: 1, retain: false, properties, expiresAt: undefined, origin: undefined };
      for (const version of [4, 5] as const) {
        for (const qos of [0, 1] as const) {
          const delivery: Delivery = { message, qos, retain: false, subscriptionIds: undefined, packetId: 9, state: 'publish', seq: 0 };
          const packet: PublishPacket = { cmd: 'publish', topic, payload: message.payload, qos, retain: false, dup: false };
          if (qos > 0) packet.messageId = 9;
          if (version === 5 && properties) packet.properties = properties;
          expect(encoder.encode(delivery, false, version)).toEqual(reference(packet, version));
        }
      }
    });
  });
});
