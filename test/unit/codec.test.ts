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

describe('MQTT 5 properties as the Decoder reads them', () => {
  const CONNECT5 = reference({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'c', clean: true, keepalive: 0 }, 5);

  /** Decodes an MQTT 5 CONNECT, then `frame`; returns the packets decoded and the error, if any. */
  function decode(frame: Buffer, connect: Buffer | null = CONNECT5): { packets: mqttPacket.Packet[]; error: Error | undefined } {
    const packets: mqttPacket.Packet[] = [];
    let error: Error | undefined;
    const decoder = new Decoder({ packetDecoded: (p) => packets.push(p), decodeFailed: (e) => (error ??= e) });
    if (connect) decoder.write(connect);
    decoder.write(frame);
    return { packets, error };
  }

  const u16 = (n: number) => Buffer.from([n >> 8, n & 0xff]);
  const str = (s: string) => Buffer.concat([u16(Buffer.byteLength(s)), Buffer.from(s)]);
  const block = (...parts: Buffer[]) => {
    const body = Buffer.concat(parts);
    return Buffer.concat([Buffer.from([body.length]), body]); // every block here is under 128 bytes
  };
  const frame = (first: number, ...parts: Buffer[]) => {
    const body = Buffer.concat(parts);
    return Buffer.concat([Buffer.from([first, body.length]), body]);
  };
  const connectWith = (properties: Buffer, will?: Buffer) =>
    frame(0x10, str('MQTT'), Buffer.from([5, will ? 0x06 : 0x02]), u16(0), properties, str('c'), will ? Buffer.concat([will, str('w'), str('x')]) : Buffer.alloc(0));
  const reasonString = Buffer.concat([Buffer.from([0x1f]), str('')]);
  const pfi = (n: number) => Buffer.from([0x01, n]);

  /** A packet of each type a client sends, with one property given twice (first value empty or 0). */
  const repeated: [string, Buffer, Buffer | null][] = [
    ['CONNECT', connectWith(block(Buffer.from([0x17, 0]), Buffer.from([0x17, 0]))), null],
    ['a will', connectWith(block(), block(pfi(0), pfi(0))), null],
    ['PUBLISH QoS 0', frame(0x30, str('t'), block(pfi(0), pfi(0))), CONNECT5],
    ['PUBLISH QoS 1', frame(0x32, str('t'), u16(1), block(pfi(0), pfi(0))), CONNECT5],
    ['PUBACK', frame(0x40, u16(1), Buffer.from([0]), block(reasonString, reasonString)), CONNECT5],
    ['PUBREC', frame(0x50, u16(1), Buffer.from([0]), block(reasonString, reasonString)), CONNECT5],
    ['PUBREL', frame(0x62, u16(1), Buffer.from([0]), block(reasonString, reasonString)), CONNECT5],
    ['PUBCOMP', frame(0x70, u16(1), Buffer.from([0]), block(reasonString, reasonString)), CONNECT5],
    ['SUBSCRIBE', frame(0x82, u16(1), block(Buffer.from([0x0b, 1]), Buffer.from([0x0b, 1])), str('t'), Buffer.from([0])), CONNECT5],
    ['DISCONNECT', frame(0xe0, Buffer.from([0]), block(reasonString, reasonString)), CONNECT5],
    ['AUTH', frame(0xf0, Buffer.from([0x18]), block(Buffer.concat([Buffer.from([0x15]), str('m')]), Buffer.concat([Buffer.from([0x15]), str('m')]))), CONNECT5],
  ];

  it.each(repeated)('%s with a property given twice is a Protocol Error (section 2.2.2.2)', (_name, bytes, connect) => {
    const { packets, error } = decode(bytes, connect);
    expect(error).toMatchObject({ code: 'ERR_PROTOCOL' });
    expect(packets.length).toBe(connect ? 1 : 0);
  });

  it.each([
    ['Request Problem Information 2', connectWith(block(Buffer.from([0x17, 2]))), null],
    ['Request Response Information 2', connectWith(block(Buffer.from([0x19, 2]))), null],
    ['a will Payload Format Indicator 2', connectWith(block(), block(pfi(2))), null],
    ['a PUBLISH Payload Format Indicator 255', frame(0x30, str('t'), block(pfi(255))), CONNECT5],
  ] as [string, Buffer, Buffer | null][])('%s is a Protocol Error: every Byte property is 0 or 1', (_name, bytes, connect) => {
    expect(decode(bytes, connect).error).toMatchObject({ code: 'ERR_PROTOCOL' });
  });

  it.each([
    ['an unknown property identifier', frame(0x30, str('t'), block(Buffer.from([0x7f, 0]))), 'unknown property'],
    ['a property that runs past the Property Length', frame(0x30, str('t'), Buffer.from([2, 0x02, 0, 0, 0, 0]), Buffer.from('payload')), 'past the Property Length'],
    ['a Property Length past the Remaining Length', frame(0x30, str('t'), Buffer.from([9, 0x01, 0])), 'past the Remaining Length'],
    ['a Content Type cut short', frame(0x30, str('t'), Buffer.from([3, 0x03, 0, 5])), 'cannot be read'],
    ['a Reason String on a PUBLISH', frame(0x30, str('t'), block(reasonString)), 'not a property of PUBLISH'],
    ['a Session Expiry Interval in a will', connectWith(block(), block(Buffer.from([0x11, 0, 0, 0, 1]))), 'not a property of WILL'],
  ])('%s is a Malformed Packet', (_name, bytes, detail) => {
    const { error } = decode(bytes, bytes[0] === 0x10 ? null : CONNECT5);
    expect(error).toMatchObject({ code: 'ERR_MALFORMED_PACKET' });
    expect(error?.message).toContain(detail);
  });

  it('well-formed properties decode exactly as mqtt-packet decodes them', () => {
    const publish = {
      cmd: 'publish', topic: 'a/b', qos: 1, messageId: 7, dup: false, retain: false, payload: Buffer.from('p'),
      properties: {
        payloadFormatIndicator: true, messageExpiryInterval: 0, contentType: '', responseTopic: 'r', correlationData: Buffer.alloc(0),
        topicAlias: 3, userProperties: { k: ['1', '2'], e: '' },
      },
    };
    const connect = {
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'c', clean: false, keepalive: 30,
      properties: { sessionExpiryInterval: 0, receiveMaximum: 5, maximumPacketSize: 300, topicAliasMaximum: 0, requestResponseInformation: false, requestProblemInformation: true, userProperties: { a: 'b' } },
      will: { topic: 'w', payload: Buffer.from('x'), qos: 1, retain: false, properties: { willDelayInterval: 0, payloadFormatIndicator: false, contentType: 't' } },
    };
    for (const [packet, before] of [[publish, CONNECT5], [connect, null]] as const) {
      const bytes = reference(packet, 5);
      const expected: mqttPacket.Packet[] = [];
      const parser = mqttPacket.parser({ protocolVersion: 5 });
      parser.on('packet', (p) => expected.push(p));
      parser.parse(bytes);
      const { packets, error } = decode(bytes, before);
      expect(error).toBeUndefined();
      expect(packets.at(-1)).toEqual(expected[0]);
    }
  });
});
