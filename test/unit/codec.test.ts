import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { encode, withPacketId } from '../../src/protocol/codec.js';

const reference = (packet: Record<string, unknown>, version: number) => mqttPacket.generate(packet as unknown as mqttPacket.Packet, { protocolVersion: version });

describe('shared encodings with a per-subscriber packet id', () => {
  it.each([
    ['short topic, v4', 4, 'a/b', 10, {}],
    ['remaining length of 2 bytes', 4, 'sensors/room-1/temperature', 300, {}],
    ['remaining length of 3 bytes', 5, 'x'.repeat(70), 20_000, { contentType: 'text/plain', userProperties: { k: 'v' } }],
    ['MQTT 5 with properties', 5, 'a', 5, { correlationData: Buffer.from('c'), responseTopic: 'r' }],
  ])('a QoS 1/2 PUBLISH copied with another id and DUP equals mqtt-packet encoding it (%s)', (_n, version, topic, size, properties) => {
    const payload = Buffer.alloc(size as number, 7);
    for (const qos of [1, 2] as const) {
      const base = { cmd: 'publish', topic, payload, qos, retain: true, ...(version === 5 ? { properties } : {}) };
      const template = encode({ ...base, messageId: 1, dup: false } as mqttPacket.Packet, version as 4 | 5);
      for (const [id, dup] of [[513, true], [65535, false], [7, true]] as const) {
        expect(withPacketId(template, id, dup)).toEqual(reference({ ...base, messageId: id, dup }, version as number));
      }
      expect(template).toEqual(reference({ ...base, messageId: 1, dup: false }, version as number)); // not modified
    }
  });

  it.each(['puback', 'pubrec', 'pubrel', 'pubcomp'])('a plain %s equals mqtt-packet encoding it at every level', (cmd) => {
    for (const version of [3, 4, 5] as const) {
      for (const id of [1, 258, 65535]) {
        expect(encode({ cmd, messageId: id, reasonCode: 0 } as mqttPacket.Packet, version)).toEqual(reference({ cmd, messageId: id, reasonCode: 0 }, version));
      }
    }
  });

  it('an acknowledgement with a reason code or properties is encoded by mqtt-packet', () => {
    const withReason = { cmd: 'puback', messageId: 9, reasonCode: 0x87, properties: { reasonString: 'no' } };
    expect(encode(withReason as mqttPacket.Packet, 5)).toEqual(reference(withReason, 5));
  });
});
