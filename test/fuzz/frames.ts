import fc from 'fast-check';
import mqttPacket, { type Packet } from 'mqtt-packet';

/** Hostile inputs for the broker's connection handling, as raw bytes written after an optional CONNECT. */
export interface FuzzCase {
  /** 3, 4 or 5; 0 sends no CONNECT first. */
  readonly version: 0 | 3 | 4 | 5;
  readonly bytes: Buffer;
}

const utf8 = fc.string({ maxLength: 40 });
const topicName = fc.array(fc.stringMatching(/^[a-z0-9$]{0,6}$/), { minLength: 1, maxLength: 8 }).map((l) => l.join('/'));
const filter = fc.oneof(topicName, topicName.map((t) => `${t}/#`), topicName.map((t) => `+/${t}`), fc.constant('$share/g/x/#'));
const payload = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));
const qos = fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>;
const id = fc.integer({ min: 1, max: 65535 });

const userProperties = fc.dictionary(fc.stringMatching(/^[a-z]{1,5}$/), fc.stringMatching(/^[a-z]{0,5}$/), { maxKeys: 3 });

/** Valid packets a client may send (encoded for the version of the case). */
const clientPacket: fc.Arbitrary<Packet> = fc.oneof(
  fc.record({ cmd: fc.constant('publish'), topic: topicName, payload, qos, messageId: id, dup: fc.constant(false), retain: fc.boolean() }),
  fc.record({
    cmd: fc.constant('publish'),
    topic: topicName,
    payload,
    qos,
    messageId: id,
    dup: fc.constant(false),
    retain: fc.boolean(),
    properties: fc.record({ userProperties, messageExpiryInterval: fc.nat(100), topicAlias: fc.integer({ min: 1, max: 20 }) }, { requiredKeys: [] }),
  }),
  fc.record({ cmd: fc.constant('subscribe'), messageId: id, subscriptions: fc.array(fc.record({ topic: filter, qos }), { minLength: 1, maxLength: 4 }) }),
  fc.record({ cmd: fc.constant('unsubscribe'), messageId: id, unsubscriptions: fc.array(filter, { minLength: 1, maxLength: 3 }) }),
  fc.record({ cmd: fc.constantFrom('puback', 'pubrec', 'pubrel', 'pubcomp'), messageId: id }),
  fc.constant({ cmd: 'pingreq' }),
  fc.record({ cmd: fc.constant('connect'), protocolId: fc.constant('MQTT'), protocolVersion: fc.constantFrom(4, 5), clientId: utf8, clean: fc.boolean(), keepalive: fc.nat(60) }),
  fc.record({ cmd: fc.constant('disconnect'), reasonCode: fc.constantFrom(0, 4, 0x80) }),
) as fc.Arbitrary<Packet>;

function encode(packet: Packet, version: number): Buffer {
  try {
    return mqttPacket.generate(packet, { protocolVersion: version === 0 ? 4 : version });
  } catch {
    return Buffer.from([0xc0, 0x00]); // not encodable at this version: a PINGREQ instead
  }
}

/** Byte-level mutations of a valid frame. */
function mutate(frame: Buffer, edits: { at: number; value: number; kind: number }[]): Buffer {
  let out = Buffer.from(frame);
  for (const e of edits) {
    const at = out.length === 0 ? 0 : e.at % out.length;
    if (e.kind === 0) out[at] = e.value; // overwrite
    else if (e.kind === 1) out = Buffer.concat([out.subarray(0, at), Buffer.from([e.value]), out.subarray(at)]); // insert
    else if (e.kind === 2) out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1)]); // delete
    else out = out.subarray(0, at); // truncate
  }
  return out;
}

const edit = fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }), kind: fc.integer({ min: 0, max: 3 }) });

/** A PUBLISH whose Remaining Length lies: too large, too small, over 4 bytes, or a huge property length. */
const badLengths = fc.oneof(
  fc.constant(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 1, 0x61])), // five-byte Remaining Length: malformed
  fc.nat(300).map((n) => Buffer.concat([Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]), Buffer.alloc(n, 0x61)])), // 256 MiB announced
  fc.integer({ min: 0, max: 20 }).map((n) => Buffer.from([0x30, n, 0x00, 0x05, 0x61, 0x62])), // shorter than its fields
  // MQTT 5 PUBLISH with a property length of 268 MB
  fc.constant(Buffer.from([0x30, 0x0a, 0x00, 0x01, 0x61, 0xff, 0xff, 0xff, 0x7f, 0x01, 0x01, 0x00])),
  fc.constant(Buffer.from([0x82, 0x08, 0x00, 0x01, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00])), // SUBSCRIBE, huge properties
);

/** A PUBLISH whose topic is ill-formed UTF-8 or contains U+0000. */
const badUtf8 = fc.uint8Array({ minLength: 1, maxLength: 12 }).map((bytes) => {
  const topic = Buffer.concat([Buffer.from([0xc3, 0x28]), Buffer.from(bytes), Buffer.from([0xed, 0xa0, 0x80, 0x00])]);
  const body = Buffer.concat([Buffer.from([topic.length >> 8, topic.length & 0xff]), topic, Buffer.from('x')]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
});

/** Deep and long topics. */
const deepTopics = fc.integer({ min: 100, max: 3000 }).map((levels) => ({ cmd: 'publish', topic: 'a/'.repeat(levels) + 'z', payload: Buffer.from('d'), qos: 0, dup: false, retain: false }) as Packet);

/** One fuzz case. */
export const fuzzCase: fc.Arbitrary<FuzzCase> = fc.record({ version: fc.constantFrom(0, 3, 4, 5) as fc.Arbitrary<0 | 3 | 4 | 5>, kind: fc.nat(5), packets: fc.array(clientPacket, { minLength: 1, maxLength: 4 }), edits: fc.array(edit, { maxLength: 4 }), bad: fc.oneof(badLengths, badUtf8), deep: deepTopics }).map(({ version, kind, packets, edits, bad, deep }) => {
  const valid = Buffer.concat(packets.map((p) => encode(p, version)));
  let bytes: Buffer;
  if (kind === 0) bytes = valid;
  else if (kind === 1) bytes = mutate(valid, edits);
  else if (kind === 2) bytes = bad;
  else if (kind === 3) bytes = encode(deep, version);
  else if (kind === 4) bytes = valid.subarray(0, Math.max(1, valid.length - 1 - (edits[0]?.at ?? 0) % valid.length)); // truncated
  else bytes = Buffer.concat([valid, bad]);
  return { version, bytes };
});

/** The CONNECT that opens a case. */
export function connectFrame(version: 3 | 4 | 5, n: number): Buffer {
  return mqttPacket.generate({ cmd: 'connect', protocolId: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version, clientId: `fuzz-${n}`, clean: true, keepalive: 30 } as Packet, { protocolVersion: version });
}
