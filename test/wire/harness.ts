/**
 * The wire tests' harness: a per-test owner of a broker and its raw connections (`Wire`), and
 * assertions on how the broker closes a connection. Hand-built frames are in ../helpers/frames.ts.
 */
import { expect } from 'vitest';
import { pino } from 'pino';
import type { Packet } from 'mqtt-packet';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';
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
export class WireHarness {
  tb: TestBroker | undefined;
  readonly logs: LogLine[] = [];
  readonly #raws: Wire[] = [];

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
  async raw(version = 4): Promise<Wire> {
    const c = await Wire.open(this.port, version);
    this.#raws.push(c);
    return c;
  }

  /** Opens a raw connection and completes CONNECT/CONNACK; asserts the CONNACK accepted it. */
  async connected(version = 4, connect: Record<string, unknown> = {}): Promise<{ c: Wire; connack: Packet }> {
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
export async function expectClosedSilently(c: Wire): Promise<void> {
  await c.waitClosed();
  expect(c.packets).toEqual([]);
}

/** Asserts an MQTT 5 DISCONNECT with `reasonCode` (one of them, if an array), then closure, and nothing else. */
export async function expectDisconnect(c: Wire, reasonCode: number | number[]): Promise<void> {
  await c.waitClosed();
  expect(c.packets.map((p) => p.cmd)).toEqual(['disconnect']);
  const code = (c.packets[0] as { reasonCode?: number }).reasonCode;
  if (Array.isArray(reasonCode)) expect(reasonCode).toContain(code);
  else expect(code).toBe(reasonCode);
}

/** Asserts a CONNACK refusal with the given 3.1.1 return code (or 5.0 reason code), then closure. */
export async function expectConnackRefusal(c: Wire, code: number, version = 4): Promise<void> {
  await c.waitClosed();
  expect(c.packets.map((p) => p.cmd)).toEqual(['connack']);
  const connack = c.packets[0] as { returnCode?: number; reasonCode?: number };
  expect(version === 5 ? connack.reasonCode : connack.returnCode).toBe(code);
}
