/** listen() on a port in use, and handle() before start(): coded errors, no crash and nothing left open. */
import { once } from 'node:events';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { createBroker, isBrokerError } from '../../src/index.js';
import { sleep } from '../helpers/broker.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0)) await fn();
});

/** Rejects after `ms` (so that a promise that never settles fails the test quickly). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, sleep(ms).then(() => Promise.reject(new Error(`${what}: nothing after ${ms} ms`)))]);
}

/** A TCP server on a free loopback port, closed after the test. */
async function occupyPort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as net.AddressInfo).port;
}

describe('listener errors', () => {
  it('createBroker({ wsPort: <port in use> }).listen() rejects with ERR_LISTEN (no crash, no unhandled error)', async () => {
    const busy = await occupyPort();
    const tcpPort = await freePort();
    const b = createBroker({ host: '127.0.0.1', port: tcpPort, wsPort: busy, store: 'memory', logLevel: 'silent', httpPort: -1 });
    const err = await within(b.listen().then(() => undefined, (e: unknown) => e), 3000, 'listen()');
    expect(isBrokerError(err, 'ERR_LISTEN')).toBe(true);
    expect((err as Error).message).toMatch(/WebSocket.*address already in use/);
    // listen() closed what it had opened: the TCP listener bound before the failure is gone
    expect(await canConnect(tcpPort)).toBe(false);
    await b.close();
  });

  it('createBroker({ port: <port in use> }).listen() rejects with ERR_LISTEN', async () => {
    const busy = await occupyPort();
    const b = createBroker({ host: '127.0.0.1', port: busy, wsPort: 0, store: 'memory', logLevel: 'silent', httpPort: -1 });
    const err = await within(b.listen().then(() => undefined, (e: unknown) => e), 3000, 'listen()');
    expect(isBrokerError(err, 'ERR_LISTEN')).toBe(true);
    expect((err as Error).message).toMatch(/TCP.*address already in use/);
    await b.close();
  });
});

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

describe('handle() before start()', () => {
  it('broker.handle(stream) before start()/listen() throws BrokerError ERR_NOT_STARTED; after start() it serves', async () => {
    const b = createBroker({ host: '127.0.0.1', port: -1, wsPort: -1, store: 'memory', logLevel: 'silent', httpPort: -1 });
    const early = new PassThrough();
    let err: unknown;
    try {
      b.handle(early);
    } catch (e) {
      err = e;
    }
    early.destroy();
    expect(isBrokerError(err, 'ERR_NOT_STARTED')).toBe(true);

    await b.start();
    const server = net.createServer((socket) => b.handle(socket, 'custom', socket.remoteAddress));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, connectTimeout: 5000 });
    try {
      expect(client.connected).toBe(true);
      expect(b.clientCount).toBe(1);
    } finally {
      await client.endAsync(true);
      await b.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
