/**
 * Hand-built MQTT frames, for packets mqtt-packet refuses to generate: any flags, lengths,
 * property values and string bytes, valid or not.
 */

type Bytes = Buffer | number[] | string;

function bytes(b: Bytes): Buffer {
  if (Buffer.isBuffer(b)) return b;
  return typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b);
}

/** A Variable Byte Integer (section 1.5.5 / 2.2.3). */
export function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

/** A length-prefixed MQTT string or binary field; `s` may hold any bytes, valid UTF-8 or not. */
export function str(s: Bytes): Buffer {
  const b = bytes(s);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

/** A two-byte integer. */
export function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** A complete packet: first byte, correct remaining length, then the parts. */
export function frame(first: number, ...parts: Bytes[]): Buffer {
  const body = Buffer.concat(parts.map(bytes));
  return Buffer.concat([Buffer.from([first]), varint(body.length), body]);
}

/** An MQTT 5 property block from already-encoded properties. */
export function props(...parts: Bytes[]): Buffer {
  const body = Buffer.concat(parts.map(bytes));
  return Buffer.concat([varint(body.length), body]);
}

export interface RawPublish {
  topic: Bytes;
  qos?: number;
  dup?: boolean;
  retain?: boolean;
  id?: number;
  /** MQTT 5 only: the encoded property block (use `props()`); omitted for 3.1.1. */
  properties?: Buffer;
  payload?: Bytes;
}

/** A PUBLISH with any flags, topic bytes and packet id, valid or not. */
export function publishFrame(p: RawPublish): Buffer {
  const qos = p.qos ?? 0;
  const first = 0x30 | (p.dup ? 0x08 : 0) | (qos << 1) | (p.retain ? 1 : 0);
  const id = qos > 0 || p.id !== undefined ? u16(p.id ?? 1) : Buffer.alloc(0);
  return frame(first, str(p.topic), id, p.properties ?? Buffer.alloc(0), p.payload ?? Buffer.alloc(0));
}

export interface RawConnect {
  protocolName?: Bytes;
  level?: number;
  flags?: number;
  keepalive?: number;
  properties?: Buffer;
  clientId?: Bytes;
  /** Everything after the client id (will, user name, password), already encoded. */
  rest?: Bytes;
}

/** A CONNECT with any protocol name, level and flags (defaults: MQTT 3.1.1, clean session). */
export function connectFrame(c: RawConnect = {}): Buffer {
  const level = c.level ?? 4;
  return frame(
    0x10,
    str(c.protocolName ?? 'MQTT'),
    [level, c.flags ?? 0x02],
    u16(c.keepalive ?? 0),
    c.properties ?? (level === 5 ? props() : Buffer.alloc(0)),
    str(c.clientId ?? 'wire-client'),
    c.rest ?? Buffer.alloc(0),
  );
}

/** A Four Byte Integer property. */
function u32Property(id: number, n: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = id;
  b.writeUInt32BE(n, 1);
  return b;
}

/** MQTT 5 properties used by the tests, encoded with any value, valid or not (MQTT 5 section 2.2.2.2). */
export const Prop = {
  payloadFormatIndicator: (n: number) => Buffer.from([0x01, n]),
  messageExpiry: (n: number) => u32Property(0x02, n),
  contentType: (s: Bytes) => Buffer.concat([Buffer.from([0x03]), str(s)]),
  responseTopic: (s: Bytes) => Buffer.concat([Buffer.from([0x08]), str(s)]),
  correlationData: (s: Bytes) => Buffer.concat([Buffer.from([0x09]), str(s)]),
  subscriptionIdentifier: (n: number) => Buffer.concat([Buffer.from([0x0b]), varint(n)]),
  sessionExpiry: (n: number) => u32Property(0x11, n),
  authenticationMethod: (s: string) => Buffer.concat([Buffer.from([0x15]), str(s)]),
  requestProblemInformation: (n: number) => Buffer.from([0x17, n]),
  willDelay: (n: number) => u32Property(0x18, n),
  requestResponseInformation: (n: number) => Buffer.from([0x19, n]),
  reasonString: (s: Bytes) => Buffer.concat([Buffer.from([0x1f]), str(s)]),
  receiveMaximum: (n: number) => Buffer.concat([Buffer.from([0x21]), u16(n)]),
  topicAliasMaximum: (n: number) => Buffer.concat([Buffer.from([0x22]), u16(n)]),
  topicAlias: (n: number) => Buffer.concat([Buffer.from([0x23]), u16(n)]),
  userProperty: (name: Bytes, value: Bytes) => Buffer.concat([Buffer.from([0x26]), str(name), str(value)]),
  maximumPacketSize: (n: number) => u32Property(0x27, n),
};

/** The part of an MQTT 5 CONNECT after its client id for a will with these properties (Will Flag 0x04 in the flags). */
export function will5(properties: Buffer, topic = 'wire/will', payload = 'bye'): Buffer {
  return Buffer.concat([properties, str(topic), str(payload)]);
}
