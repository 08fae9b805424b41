import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { Decoder, encode, withPacketId } from '../../src/protocol/codec.js';

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

describe('Decoder after CONNECT', () => {
  /** Decodes `frames` in order through one Decoder; returns the packets (an error is thrown). */
  function decodeAll(frames: Buffer[]): mqttPacket.Packet[] {
    const packets: mqttPacket.Packet[] = [];
    const decoder = new Decoder({ packetDecoded: (p) => packets.push(p), decodeFailed: (e) => { throw e; } });
    for (const frame of frames) decoder.write(frame);
    return packets;
  }

  it('keeps parsing at the CONNECT protocol level (MQTT 5 properties on later packets)', () => {
    const connect = reference({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'c', clean: true, keepalive: 0, password: Buffer.from('secret'), username: 'u' }, 5);
    const subscribe = { cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'a/#', qos: 1, nl: true, rap: true, rh: 2 }], properties: { subscriptionIdentifier: 7 } };
    const [, sub] = decodeAll([connect, reference(subscribe, 5)]);
    expect(sub).toMatchObject(subscribe);
  });

  it('keeps bridge mode from a 3.1.1 bridge CONNECT (protocol level 0x84): its subscriptions are No Local and Retain As Published', () => {
    const connect = reference({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'bridge', clean: true, keepalive: 0 }, 4);
    connect[8] = 0x84; // the protocol level byte: 4 with the bridge bit
    const subscribe = reference({ cmd: 'subscribe', messageId: 4, subscriptions: [{ topic: 't', qos: 0 }] }, 4);
    const [conn, sub] = decodeAll([connect, subscribe]);
    expect(conn).toMatchObject({ cmd: 'connect', bridgeMode: true });
    expect(sub).toMatchObject({ cmd: 'subscribe', subscriptions: [{ topic: 't', qos: 0, nl: true, rap: true }] });
  });
});
