import { PassThrough } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Stats } from '../../src/broker/stats.js';
import type { Session } from '../../src/broker/session.js';
import { AcceptedClient, type Acceptance } from '../../src/connection/client.js';
import { Connection, type ConnectionHost } from '../../src/connection/connection.js';
import { DEFAULTS } from '../../src/options.js';
import { PublishEncoder } from '../../src/protocol/publish-encoder.js';

/** A Connection on an in-memory stream, with a host that records dispatched packets. */
function connection(): { conn: Connection; stream: PassThrough; dispatched: string[]; due: number[]; events: string[] } {
  const stream = new PassThrough();
  const dispatched: string[] = [];
  const due: number[] = [];
  const events: string[] = [];
  const host: ConnectionHost = {
    logger: pino({ level: 'silent' }),
    encoder: new PublishEncoder(),
    stats: new Stats(),
    limits: DEFAULTS,
    dispatch: (_c, packet) => {
      dispatched.push(packet.cmd);
    },
    released: () => events.push('released'),
    closed: () => events.push('closed'),
    keepaliveDue: (at) => due.push(at),
  };
  return { conn: new Connection(stream, 'test', '127.0.0.1', host), stream, dispatched, due, events };
}

/**
 * Accepts `conn` as if CONNACK went out with `keepalive` seconds. Keepalive never touches the
 * session, so the accepted client carries none.
 */
function accept(conn: Connection, keepalive: number): void {
  const acceptance: Acceptance = {
    info: { id: 'c', username: undefined, protocolVersion: 4, remoteAddress: '127.0.0.1', listener: 'test', certificate: undefined },
    session: undefined as unknown as Session,
    receiveMaximum: 65535,
    keepalive,
    outboundAliases: undefined,
  };
  conn.accept(new AcceptedClient(acceptance));
}

const opened: PassThrough[] = [];
afterEach(() => {
  for (const stream of opened.splice(0)) stream.destroy();
});

describe('Connection.checkKeepalive [MQTT-3.1.2-24]', () => {
  it('closes after 1.5× the keepalive of silence, not before; tells the sweep its deadline, and the host at once', () => {
    const { conn, stream, due, events } = connection();
    opened.push(stream);
    conn.beginConnect(4);
    const before = performance.now();
    accept(conn, 2);
    const after = performance.now();
    expect(due).toHaveLength(1);
    const deadline = due[0] as number;
    expect(deadline).toBeGreaterThanOrEqual(before + 3000);
    expect(deadline).toBeLessThanOrEqual(after + 3000);
    expect(conn.checkKeepalive(before + 2999)).toBe(deadline);
    expect(conn.closed).toBe(false);
    expect(conn.checkKeepalive(deadline)).toBe(Number.POSITIVE_INFINITY);
    expect(conn.closed).toBe(true);
    expect(conn.closeCode).toBe('ERR_KEEPALIVE_TIMEOUT');
    // The connection is over for the broker now, not when the peer finishes closing [MQTT-3.1.2-8]
    expect(events).toEqual(['released', 'closed']);
  });

  it('the host hears "closed" once: at end(), not again when the socket closes', async () => {
    const { conn, stream, events } = connection();
    conn.beginConnect(4);
    accept(conn, 0);
    conn.end('test');
    stream.destroy();
    await new Promise((resolve) => stream.once('close', resolve));
    expect(events).toEqual(['released', 'closed']);
  });

  it('the peer ending its side releases the connection at once; "closed" follows with the socket', async () => {
    const { conn, stream, events } = connection();
    opened.push(stream);
    conn.beginConnect(4);
    accept(conn, 0);
    let atEnd: string[] = [];
    stream.once('end', () => (atEnd = [...events])); // after the Connection's own 'end' listener
    const closed = new Promise((resolve) => stream.once('close', resolve));
    stream.end(); // the readable side of a PassThrough ends once what was written is read
    await closed;
    expect(atEnd).toEqual(['released']);
    expect(events).toEqual(['released', 'closed']);
  });

  it('data from the client restarts the count', async () => {
    const { conn, stream, dispatched } = connection();
    opened.push(stream);
    conn.beginConnect(4);
    accept(conn, 1);
    const accepted = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const beforeData = performance.now();
    stream.write(Buffer.from([0xc0, 0x00])); // PINGREQ, read synchronously by the 'data' listener
    const afterData = performance.now();
    expect(dispatched).toEqual(['pingreq']);
    expect(beforeData + 1499).toBeGreaterThan(accepted + 1500); // without the PINGREQ this would close
    expect(conn.checkKeepalive(beforeData + 1499)).toBeGreaterThanOrEqual(beforeData + 1500); // the later deadline
    expect(conn.closed).toBe(false);
    conn.checkKeepalive(afterData + 1500);
    expect(conn.closed).toBe(true);
  });

  it('a keepalive of 0 is never enforced, nor is one before CONNACK', () => {
    const idle = connection();
    opened.push(idle.stream);
    idle.conn.beginConnect(5);
    accept(idle.conn, 0);
    expect(idle.due).toEqual([]);
    expect(idle.conn.checkKeepalive(performance.now() + 1e9)).toBe(Number.POSITIVE_INFINITY);
    expect(idle.conn.closed).toBe(false);

    const connecting = connection();
    opened.push(connecting.stream);
    connecting.conn.beginConnect(4);
    connecting.conn.checkKeepalive(performance.now() + 1e9); // the CONNECT timeout covers this phase
    expect(connecting.conn.closed).toBe(false);
  });
});
