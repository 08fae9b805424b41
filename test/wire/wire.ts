/**
 * Shared helpers for the wire tests: a per-test harness that owns its broker and raw sockets,
 * hand-built frames for packets mqtt-packet refuses to generate, and assertions on closure.
 */
import { expect } from 'vitest';
import { pino } from 'pino';
import type { Packet } from 'mqtt-packet';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { RawClient } from '../helpers/raw.js';
import type { BrokerOptions } from '../../src/index.js';

/** One pino line the broker logged at warn level or above. */
export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/**
 * Owns everything a test opens. `cleanup()` (run in afterEach) closes the sockets and the broker,
 * then fails the test if the broker logged an error: a handler that throws anything but a
 * BrokerError is logged as 'unexpected error in handler', which is a broker bug.
 */
export class Wire {
  tb: TestBroker | undefined;
  readonly logs: LogLine[] = [];
  readonly #raws: RawClient[] = [];

  /** Starts this test's broker; it logs into `logs`. */
  async start(options: BrokerOptions = {}): Promise<TestBroker> {
    const logger = pino({ level: 'warn' }, { write: (line: string) => this.logs.push(JSON.parse(line) as LogLine) });
    this.tb = await startBroker({ logger, ...options });
    return this.tb;
  }

  get port(): number {
    if (!this.tb) throw new Error('start() the broker first');
    return this.tb.port;
  }

  /** Opens a raw TCP connection (version 3, 4 or 5 selects how replies are parsed). */
  async raw(version = 4): Promise<RawClient> {
    const c = await RawClient.connect(this.port, version);
    this.#raws.push(c);
    return c;
  }

  /** Opens a raw connection and completes CONNECT/CONNACK; asserts the CONNACK accepted it. */
  async connected(version = 4, connect: Record<string, unknown> = {}): Promise<{ c: RawClient; connack: Packet }> {
    const c = await this.raw(version);
    const connack = await c.handshake(connect);
    expect(version === 5 ? (connack as { reasonCode?: number }).reasonCode : (connack as { returnCode?: number }).returnCode).toBe(0);
    return { c, connack };
  }

  async cleanup(): Promise<void> {
    for (const c of this.#raws.splice(0)) c.close();
    await this.tb?.close();
    this.tb = undefined;
    const errors = this.logs.filter((l) => l.level >= 50);
    this.logs.length = 0;
    expect(errors, 'the broker logged errors').toEqual([]);
  }
}

/** Asserts that the broker closes the connection without sending anything. */
export async function expectClosedSilently(c: RawClient): Promise<void> {
  await c.waitClosed();
  expect(c.packets).toEqual([]);
}

/** Asserts an MQTT 5 DISCONNECT with `reasonCode` (one of them, if an array), then closure, and nothing else. */
export async function expectDisconnect(c: RawClient, reasonCode: number | number[]): Promise<void> {
  await c.waitClosed();
  expect(c.packets.map((p) => p.cmd)).toEqual(['disconnect']);
  const code = (c.packets[0] as { reasonCode?: number }).reasonCode;
  if (Array.isArray(reasonCode)) expect(reasonCode).toContain(code);
  else expect(code).toBe(reasonCode);
}

/** Asserts a CONNACK refusal with the given 3.1.1 return code (or 5.0 reason code), then closure. */
export async function expectConnackRefusal(c: RawClient, code: number, version = 4): Promise<void> {
  await c.waitClosed();
  expect(c.packets.map((p) => p.cmd)).toEqual(['connack']);
  const connack = c.packets[0] as { returnCode?: number; reasonCode?: number };
  expect(version === 5 ? connack.reasonCode : connack.returnCode).toBe(code);
}

// ---------------------------------------------------------------------------------------------
// Hand-built frames

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

export { prng } from '../helpers/prng.js';
