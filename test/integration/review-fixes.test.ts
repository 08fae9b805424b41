/**
 * Integration tests for the fixes of the code review (commit "Review fixes: ..."): a real broker
 * on loopback ports with mqtt.js clients, plus raw sockets where a client must misbehave.
 */
import { once } from 'node:events';
import net from 'node:net';
import { PassThrough } from 'node:stream';
import mqtt, { type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createBroker, isBrokerError, type ClientInfo, type Drop, type Message, type Plugin } from '../../src/index.js';
import { closed, collect, connackOf, connected, nextDisconnect, sleep, startBroker, until, type TestBroker } from '../helpers/broker.js';
import { RawClient } from '../helpers/raw.js';

let t: TestBroker | undefined;
const raws: RawClient[] = [];
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.close();
  for (const fn of cleanups.splice(0)) await fn();
  await t?.close();
  t = undefined;
});

function broker(): TestBroker {
  if (!t) throw new Error('no broker started');
  return t;
}

/** Closes the client's socket without DISCONNECT, as a crash would. */
async function kill(client: MqttClient): Promise<void> {
  const gone = closed(client);
  client.stream.destroy();
  await gone;
}

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

/** Proves the broker still serves: a fresh subscriber gets a fresh publisher's message. */
async function stillServes(protocolVersion: 4 | 5 = 4, ws = false): Promise<void> {
  const tb = broker();
  const sub = await tb.client({ protocolVersion, ws });
  const got = collect(sub);
  await sub.subscribeAsync('alive/check', { qos: 1 });
  const pub = await tb.client({ protocolVersion, ws });
  await pub.publishAsync('alive/check', 'yes', { qos: 1 });
  await got.waitFor(1);
  expect(got.messages[0]?.payload).toBe('yes');
}

describe('review fix 1: an onPublish transform that throws', () => {
  const drops: Drop[] = [];
  const throwing: Plugin = {
    name: 'throwing-transform',
    onPublish: (_client: ClientInfo | undefined, message: Message) => {
      if (message.topic.startsWith('boom/')) throw new Error('transform failed');
      return message;
    },
    onDropped: (drop: Drop) => drops.push(drop),
  };
  afterEach(() => {
    drops.length = 0;
  });

  it('a client message is dropped and counted as plugin-error; the publisher stays connected and others are served', async () => {
    t = await startBroker({ plugins: [throwing] });
    const watcher = await t.client({ protocolVersion: 5 });
    const got = collect(watcher);
    await watcher.subscribeAsync('#', { qos: 1 });
    const pub = await t.client({ protocolVersion: 5, clientId: 'boom-pub' });
    await pub.publishAsync('boom/1', 'never routed', { qos: 1 });
    await pub.publishAsync('fine/1', 'routed', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages.map((m) => m.topic)).toEqual(['fine/1']);
    expect(pub.connected).toBe(true);
    expect(t.broker.stats.dropped['plugin-error']).toBe(1);
    expect(drops).toEqual([expect.objectContaining({ clientId: 'boom-pub', reason: 'plugin-error' })]);
    expect(drops[0]?.message.topic).toBe('boom/1');
  });

  it('a will whose transform throws (client socket destroyed) is dropped and counted; the broker keeps serving', async () => {
    t = await startBroker({ plugins: [throwing] });
    const dev = await t.client({ protocolVersion: 4, clientId: 'boom-dev', will: { topic: 'boom/will', payload: Buffer.from('bye'), qos: 1, retain: false } });
    expect(t.broker.sessionCount).toBe(1);
    await kill(dev);
    await until(() => broker().broker.stats.dropped['plugin-error'] === 1, 'the will to be dropped as plugin-error');
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({ reason: 'plugin-error', message: { topic: 'boom/will', origin: 'boom-dev' } });
    // the close was handled to the end: the clean session is gone
    await until(() => broker().broker.sessionCount === 0 && broker().broker.clientCount === 0, 'the session to end');
    await stillServes();
  });

  it('a will whose transform throws during a takeover does not stop the new connection', async () => {
    t = await startBroker({ plugins: [throwing] });
    const will = { topic: 'boom/will', payload: Buffer.from('bye'), qos: 1 as const, retain: false };
    const first = await t.client({ protocolVersion: 5, clientId: 'boom-twice', will });
    const firstClosed = closed(first);
    const second = await t.client({ protocolVersion: 5, clientId: 'boom-twice' });
    await firstClosed;
    expect(second.connected).toBe(true);
    expect(t.broker.stats.dropped['plugin-error']).toBe(1);
    await stillServes(5);
  });

  it('broker.publish() with a throwing transform resolves and counts the drop', async () => {
    t = await startBroker({ plugins: [throwing] });
    await t.broker.publish({ topic: 'boom/api', payload: 'x', qos: 1 });
    expect(t.broker.stats.dropped['plugin-error']).toBe(1);
    expect(drops[0]).toMatchObject({ clientId: undefined, reason: 'plugin-error' });
  });
});

describe('review fix 2: listener errors', () => {
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

describe('review fix 4: a non-BrokerError thrown after CONNACK', () => {
  const crashingGate: Plugin = {
    authorizePublish: (_client, message) => {
      if (message.topic === 'gate/crash') throw new Error('gate bug');
      return true;
    },
  };

  it('5.0: an authorizePublish gate that throws gives DISCONNECT 0x80 (not 0x88); others are still served', async () => {
    t = await startBroker({ plugins: [crashingGate] });
    const victim = await t.client({ protocolVersion: 5 });
    const disconnect = nextDisconnect(victim);
    victim.publish('gate/crash', 'x', { qos: 1 }, () => undefined);
    const packet = await disconnect;
    expect(packet.reasonCode).toBe(0x80);
    await closed(victim).catch(() => undefined);
    await stillServes(5);
  });

  it('3.1.1: the same failure closes only that connection', async () => {
    t = await startBroker({ plugins: [crashingGate] });
    const victim = await t.client({ protocolVersion: 4 });
    const gone = closed(victim);
    victim.publish('gate/crash', 'x', { qos: 1 }, () => undefined);
    await gone;
    await stillServes(4);
  });
});

describe('review fix 5: takeover of a connected clean session [MQTT-3.1.2-6]', () => {
  const cases = [
    { name: '3.1.1 clean=true', first: { protocolVersion: 4 as const, clean: true }, second: { protocolVersion: 4 as const, clean: false } },
    {
      name: '5.0 Session Expiry Interval 0',
      first: { protocolVersion: 5 as const, clean: true },
      second: { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 60 } },
    },
    {
      name: '5.0 clean=false with Session Expiry Interval 0',
      first: { protocolVersion: 5 as const, clean: false },
      second: { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 60 } },
    },
  ];

  it.each(cases)('$name, taken over with clean=false: not resumed (sessionPresent 0, old subscriptions gone), the will is published', async ({ first, second }) => {
    t = await startBroker();
    const watcher = await t.client({ protocolVersion: 5 });
    const wills = collect(watcher);
    await watcher.subscribeAsync('will/#', { qos: 1 });
    const clientId = `clean-takeover-${first.protocolVersion}`;
    const old = await t.client({ ...first, clientId, will: { topic: 'will/old', payload: Buffer.from('old gone'), qos: 1, retain: false } });
    await old.subscribeAsync('old/#', { qos: 1 });
    const oldClosed = closed(old);
    const next = t.open({ ...second, clientId });
    const got = collect(next);
    const connack = await connected(next);
    await oldClosed;
    expect(connack.sessionPresent).toBe(false);
    await wills.waitFor(1);
    expect(wills.messages[0]).toMatchObject({ topic: 'will/old', payload: 'old gone' });
    // the probe is published after old/1 by the same client, so old/1 would arrive first
    await next.subscribeAsync('probe', { qos: 1 });
    const pub = await t.client({ protocolVersion: 4 });
    await pub.publishAsync('old/1', 'for the old session', { qos: 1 });
    await pub.publishAsync('probe', 'probe', { qos: 1 });
    await got.waitFor(1);
    await sleep(50);
    expect(got.messages.map((m) => m.topic)).toEqual(['probe']);
  });

  it('5.0 Session Expiry Interval 60, taken over with clean=false: resumed (sessionPresent 1, subscriptions kept)', async () => {
    t = await startBroker();
    const opts = { protocolVersion: 5 as const, clean: false, clientId: 'persistent-takeover', properties: { sessionExpiryInterval: 60 } };
    const old = await t.client(opts);
    await old.subscribeAsync('old/#', { qos: 1 });
    const oldClosed = closed(old);
    const next = t.open(opts);
    const got = collect(next);
    expect((await connected(next)).sessionPresent).toBe(true);
    await oldClosed;
    const pub = await t.client({ protocolVersion: 4 });
    await pub.publishAsync('old/1', 'still subscribed', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages[0]?.payload).toBe('still subscribed');
  });
});

describe('review fix 6: the write buffer is bounded', () => {
  /**
   * A raw 3.1.1 client subscribed to its own topic at QoS 0 stops reading its socket, then sends
   * QoS 1 PUBLISHes (1 KiB payload) as fast as the broker accepts them: every one asks the broker to
   * write a PUBACK and an echo. Stops at `count` or when a write has not drained for 1 s.
   */
  async function flood(port: number, count: number): Promise<{ r: RawClient; sent: number }> {
    const r = await RawClient.connect(port, 4);
    raws.push(r);
    await r.handshake({ clientId: 'flooder' });
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 0 }] });
    await r.next('suback');
    r.socket.pause(); // never reads again
    const payload = Buffer.alloc(1024, 0x61);
    const deadline = Date.now() + 15_000;
    let sent = 0;
    while (sent < count && Date.now() < deadline) {
      const frame = mqttPacket.generate({ cmd: 'publish', topic: 'flood/x', payload, qos: 1, messageId: (sent % 65535) + 1, dup: false, retain: false });
      sent++;
      if (!r.socket.write(frame)) {
        const drained = await Promise.race([once(r.socket, 'drain').then(() => true), sleep(1000).then(() => false)]);
        if (!drained) break;
      }
    }
    return { r, sent };
  }

  it('a client that sends 200k QoS 1 PUBLISHes but never reads is no longer read from; memory stays bounded; others are served', async () => {
    t = await startBroker({ maxWriteBuffer: 64 * 1024 });
    const sub = await t.client({ protocolVersion: 4 });
    const got = collect(sub);
    await sub.subscribeAsync('others/#', { qos: 1 });
    const heapBefore = process.memoryUsage().heapUsed;
    const { sent } = await flood(t.port, 200_000);
    await sleep(300);
    const received = t.broker.stats.messagesReceived;
    // the broker paused reading that socket: most of what the client wanted to send was never read
    expect(sent).toBeLessThan(200_000);
    expect(received).toBeLessThan(sent);
    await sleep(300);
    expect(t.broker.stats.messagesReceived).toBe(received); // and it stays paused
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 2 ** 20);
    // meanwhile an mqtt.js client on the same broker is served
    const pub = await t.client({ protocolVersion: 4 });
    for (let i = 0; i < 10; i++) await pub.publishAsync('others/t', `m${i}`, { qos: 1 });
    await got.waitFor(10);
    expect(got.messages.map((m) => m.payload)).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
  });

  it.each([64 * 1024, 4096])('maxWriteBuffer %i: once the client reads again, the broker resumes reading it and acknowledges everything', async (maxWriteBuffer) => {
    t = await startBroker({ maxWriteBuffer });
    const { r, sent } = await flood(t.port, 200_000);
    await sleep(300);
    expect(t.broker.stats.messagesReceived).toBeLessThan(sent); // paused
    r.socket.resume();
    await until(() => broker().broker.stats.messagesReceived === sent, `all ${sent} PUBLISHes to be read after the client resumed`, 5000);
  });
});

describe('review fix 8: observer order on takeover', () => {
  it('onDisconnected of the old connection is reported before onConnected of the new one, once', async () => {
    const events: string[] = [];
    const recorder: Plugin = {
      onConnected: (client) => events.push(`connected ${client.id}`),
      onDisconnected: (client, reason) => events.push(`disconnected ${client.id} (${reason})`),
    };
    t = await startBroker({ plugins: [recorder] });
    const first = await t.client({ protocolVersion: 5, clientId: 'ordered' });
    const firstClosed = closed(first);
    await t.client({ protocolVersion: 5, clientId: 'ordered' });
    await firstClosed;
    await sleep(100); // the old socket's close has been handled too
    expect(events).toEqual(['connected ordered', 'disconnected ordered (session taken over)', 'connected ordered']);
  });
});

describe('review fix 9: maxSessionExpiryInterval caps 3.1 / 3.1.1 persistent sessions', () => {
  it('maxSessionExpiryInterval 1: a 3.1.1 clean=false session is gone about 1 s after disconnect (reconnect: sessionPresent false)', async () => {
    t = await startBroker({ maxSessionExpiryInterval: 1 });
    const opts = { protocolVersion: 4 as const, clean: false, clientId: 'capped' };
    const c = await t.client(opts);
    await c.subscribeAsync('capped/#', { qos: 1 });
    await c.endAsync();
    const left = Date.now();
    await until(() => broker().broker.clientCount === 0, 'the client to be gone');
    expect(t.broker.sessionCount).toBe(1);
    await until(() => broker().broker.sessionCount === 0, 'the session to expire', 2500);
    expect(Date.now() - left).toBeGreaterThanOrEqual(900);
    const back = await t.client(opts);
    expect(connackOf(back).sessionPresent).toBe(false);
  });
});

describe('review fix 10: handle() before start()', () => {
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

describe('review fix 15: a delayed will and a clean start [MQTT-3.1.3-9]', () => {
  const delayed = {
    protocolVersion: 5 as const,
    clientId: 'delayed-will',
    clean: false,
    properties: { sessionExpiryInterval: 60 },
    will: { topic: 'will/delayed', payload: Buffer.from('gone'), qos: 1 as const, retain: false, properties: { willDelayInterval: 30 } },
  };

  it('a will delayed 30 s (session expiry 60 s) is published at once when the client reconnects with clean start', async () => {
    t = await startBroker();
    const watcher = await t.client({ protocolVersion: 5 });
    const got = collect(watcher);
    await watcher.subscribeAsync('will/#', { qos: 1 });
    await kill(await t.client(delayed));
    await until(() => broker().broker.clientCount === 1, 'the device to be gone');
    await sleep(200);
    expect(got.messages).toEqual([]); // still delayed
    const back = await t.client({ protocolVersion: 5, clientId: 'delayed-will', clean: true });
    expect(connackOf(back).sessionPresent).toBe(false);
    await got.waitFor(1, 2000);
    expect(got.messages[0]).toMatchObject({ topic: 'will/delayed', payload: 'gone' });
  });

  it('the same will is not published when the client resumes the session (clean start 0)', async () => {
    t = await startBroker();
    const watcher = await t.client({ protocolVersion: 5 });
    const got = collect(watcher);
    await watcher.subscribeAsync('will/#', { qos: 1 });
    await kill(await t.client(delayed));
    await until(() => broker().broker.clientCount === 1, 'the device to be gone');
    const back = await t.client({ protocolVersion: 5, clientId: 'delayed-will', clean: false, properties: { sessionExpiryInterval: 60 } });
    expect(connackOf(back).sessionPresent).toBe(true);
    await watcher.publishAsync('will/probe', 'probe', { qos: 1 });
    await got.waitFor(1);
    await sleep(100);
    expect(got.messages.map((m) => m.topic)).toEqual(['will/probe']);
  });
});

describe('review fix 19: WebSocket maxPayload', () => {
  async function openWs(url: string): Promise<{ ws: WebSocket; frames: Buffer[]; closed: Promise<number> }> {
    const ws = new WebSocket(url, 'mqtt');
    cleanups.push(() => ws.terminate());
    const frames: Buffer[] = [];
    ws.on('message', (data) => frames.push(Buffer.from(data as Buffer)));
    ws.on('error', () => undefined);
    const closedCode = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    await within(once(ws, 'open'), 3000, 'WebSocket open');
    ws.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: `ws-${Math.random().toString(16).slice(2)}`, clean: true, keepalive: 0 }));
    await until(() => frames.length > 0, 'CONNACK over WebSocket');
    expect([...(frames[0] as Buffer)]).toEqual([0x20, 0x02, 0x00, 0x00]);
    return { ws, frames, closed: closedCode };
  }

  it('a WebSocket message larger than maxPacketSize + 1024 closes that connection (1009); other clients are unaffected', async () => {
    t = await startBroker({ maxPacketSize: 1024 });
    const other = await t.client({ protocolVersion: 4, ws: true });
    const big = await openWs(t.wsUrl);
    // 1100 PINGREQs in one message: each packet is valid, the message (2200 bytes) is over 2048
    const pingreq = mqttPacket.generate({ cmd: 'pingreq' });
    big.ws.send(Buffer.concat(Array.from({ length: 1100 }, () => pingreq)));
    expect(await within(big.closed, 3000, 'close of the oversized WebSocket')).toBe(1009);
    expect(other.connected).toBe(true);
    await stillServes(4, true);
  });

  it('a message of maxPacketSize bytes (one maximal PUBLISH) is still accepted', async () => {
    t = await startBroker({ maxPacketSize: 1024 });
    const sub = await t.client({ protocolVersion: 4 });
    const got = collect(sub);
    await sub.subscribeAsync('ws/max', { qos: 0 });
    const c = await openWs(t.wsUrl);
    // fixed header 3 bytes + topic 8 + payload: 1024 bytes in all
    const frame = mqttPacket.generate({ cmd: 'publish', topic: 'ws/max', payload: Buffer.alloc(1024 - 3 - 8, 0x62), qos: 0, dup: false, retain: false });
    expect(frame.length).toBe(1024);
    c.ws.send(frame);
    await got.waitFor(1);
    expect(got.messages[0]?.payload.length).toBe(1013);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });
});
