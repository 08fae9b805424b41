import net from 'node:net';
import type { Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { ackCode, collect, sleep, startBroker, subackCodes, until, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';

let t: TestBroker | undefined;
const sockets: net.Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await t?.close();
  t = undefined;
});

/** Opens a TCP socket from `localAddress` and reports whether the broker closed it within `ms`. */
async function openSocket(port: number, localAddress = '127.0.0.1'): Promise<{ socket: net.Socket; closed: () => boolean }> {
  const socket = net.connect({ port, host: '127.0.0.1', localAddress });
  sockets.push(socket);
  let isClosed = false;
  socket.on('close', () => (isClosed = true));
  socket.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  return { socket, closed: () => isClosed };
}

describe('topic and client id limits', () => {
  it('5.0: a topic over maxTopicLength or maxTopicLevels gets DISCONNECT 0x90; filters get SUBACK 0x8F', async () => {
    t = await startBroker({ maxTopicLength: 32, maxTopicLevels: 4 });
    const c = await t.client({ protocolVersion: 5 });
    expect(await subackCodes(c, { 'a/b/c/d': { qos: 0 }, 'a/b/c/d/e': { qos: 0 }, ['x'.repeat(33)]: { qos: 0 }, ['é'.repeat(16)]: { qos: 0 } })).toEqual([
      0, 0x8f, 0x8f, 0,
    ]);
    expect(await subackCodes(c, { ['é'.repeat(17)]: { qos: 0 } })).toEqual([0x8f]); // 34 UTF-8 bytes
    for (const topic of ['a/b/c/d/e', 'y'.repeat(33)]) {
      const r = await Wire.open(t.port, 5);
      await r.handshake();
      r.send({ cmd: 'publish', topic, payload: Buffer.from('x'), qos: 0, dup: false, retain: false } as Packet);
      expect(await r.next('disconnect')).toMatchObject({ reasonCode: 0x90 });
      await r.waitClosed();
      r.close();
    }
    expect(await ackCode(c, 'a/b/c/d', 'ok', 1)).toBe(0); // c itself subscribed to it
  });

  it('the default maxTopicLevels is 200, as in Mosquitto: 200 levels are published and subscribed, 201 are refused', async () => {
    t = await startBroker();
    const deep = (levels: number) => Array.from({ length: levels }, (_, i) => `l${i}`).join('/');
    const c = await t.client({ protocolVersion: 5 });
    const got = collect(c);
    expect(await subackCodes(c, { [deep(200)]: { qos: 1 }, [`${deep(199)}/#`]: { qos: 0 }, [deep(201)]: { qos: 0 } })).toEqual([1, 0, 0x8f]);
    expect(await ackCode(c, deep(200), 'deep', 1)).toBe(0);
    await got.waitFor(1);
    expect(got.messages[0]?.topic).toBe(deep(200));
    const r = await Wire.open(t.port, 5);
    await r.handshake();
    r.send({ cmd: 'publish', topic: deep(201), payload: Buffer.from('x'), qos: 0, dup: false, retain: false } as Packet);
    expect(await r.next('disconnect')).toMatchObject({ reasonCode: 0x90 });
    r.close();
  });

  it('a will topic over the limits refuses the CONNECT (5.0: 0x90)', async () => {
    t = await startBroker({ maxTopicLevels: 2 });
    const r = await Wire.open(t.port, 5);
    try {
      const connack = await r.handshake({ will: { topic: 'a/b/c', payload: Buffer.from('x'), qos: 0, retain: false } });
      expect(connack).toMatchObject({ reasonCode: 0x90 });
    } finally {
      r.close();
    }
  });

  it('a client id over maxClientIdLength is refused: 5.0 CONNACK 0x85, 3.1.1 return code 2', async () => {
    t = await startBroker({ maxClientIdLength: 23 });
    for (const [version, expected] of [
      [5, { reasonCode: 0x85 }],
      [4, { returnCode: 2 }],
    ] as const) {
      const r = await Wire.open(t.port, version);
      expect(await r.handshake({ clientId: 'x'.repeat(24) })).toMatchObject(expected);
      r.close();
    }
    expect((await t.client({ clientId: 'x'.repeat(23) })).connected).toBe(true);
  });
});

describe('connection limits', () => {
  it('maxConnections: sockets over the limit are closed at once, with or without CONNECT; a freed slot is reused', async () => {
    t = await startBroker({ maxConnections: 3, wsPort: -1 });
    const open = [await openSocket(t.port), await openSocket(t.port), await openSocket(t.port)];
    const extra = await openSocket(t.port);
    await until(() => extra.closed(), 'the fourth socket closed');
    expect(t.broker.connectionStats).toMatchObject({ open: 3, refused: 1 });
    expect(open.every((s) => !s.closed())).toBe(true);
    open[0]?.socket.destroy();
    await until(() => t?.broker.connectionStats.open === 2, 'slot freed');
    expect((await t.client()).connected).toBe(true);
  });

  it('maxConnectionsPerIp: a second address still gets in while the first is at its limit', async () => {
    t = await startBroker({ maxConnectionsPerIp: 2, wsPort: -1 });
    await openSocket(t.port, '127.0.0.1');
    await openSocket(t.port, '127.0.0.1');
    const third = await openSocket(t.port, '127.0.0.1');
    const other = await openSocket(t.port, '127.0.0.2');
    await until(() => third.closed(), 'the third socket from 127.0.0.1 closed');
    await sleep(50);
    expect(other.closed()).toBe(false);
    expect(t.broker.connectionStats).toMatchObject({ open: 3, refused: 1 });
  });
});

/** Opens `n` raw MQTT connections at once and completes CONNECT on each; resolves to how many were accepted. */
async function connectAll(port: number, n: number, opened: Wire[]): Promise<number> {
  const attempts = Array.from({ length: n }, async () => {
    const r = await Wire.open(port, 4);
    opened.push(r);
    return r
      .handshake()
      .then((connack) => (connack as { returnCode?: number }).returnCode === 0)
      .catch(() => false);
  });
  return (await Promise.all(attempts)).filter(Boolean).length;
}

describe('connection limits free a slot as soon as a socket closes', () => {
  for (const [name, options] of [
    ['maxConnections', { maxConnections: 10 }],
    ['maxConnectionsPerIp', { maxConnectionsPerIp: 10 }],
  ] as const) {
    it(`${name} 10: a client that closes its 10 connections and at once opens 10 new ones is never refused (20 rounds)`, async () => {
      t = await startBroker({ ...options, wsPort: -1 });
      let open: Wire[] = [];
      expect(await connectAll(t.port, 10, open)).toBe(10);
      for (let round = 0; round < 20; round++) {
        const next: Wire[] = [];
        // Close all ten, and in the same tick start ten new connections
        for (const r of open) r.close();
        const accepted = await connectAll(t.port, 10, next);
        expect({ round, accepted }).toEqual({ round, accepted: 10 });
        open = next;
      }
      for (const r of open) r.close();
      expect(t.broker.connectionStats.refused).toBe(0);
    });
  }
});

describe('publish rate limit', () => {
  it('above publishRateMessages the broker stops reading the publisher: nothing is dropped, delivery is paced', async () => {
    t = await startBroker({ publishRateMessages: 100 });
    const sub = await t.client();
    const got = collect(sub);
    await sub.subscribeAsync('rate/#', { qos: 0 });
    const fast = await t.client();
    const other = await t.client();
    const start = Date.now();
    for (let i = 0; i < 250; i++) fast.publish('rate/fast', String(i), { qos: 0 });
    // another client is not held back by the throttled one
    await other.publishAsync('rate/other', 'x', { qos: 0 });
    await until(() => got.messages.some((m) => m.topic === 'rate/other'), 'the other client delivered', 2000);
    await got.waitFor(251, 10_000);
    const elapsed = Date.now() - start;
    // 100 burst + 150 more at 100/s: at least about 1.5 s (a lower bound: the limit holds)
    expect(elapsed).toBeGreaterThanOrEqual(1200);
    const fastOnes = got.messages.filter((m) => m.topic === 'rate/fast').map((m) => Number(m.payload));
    expect(fastOnes).toEqual([...Array(250).keys()]);
    expect(t.broker.stats.dropped['queue-full'] + t.broker.stats.dropped['slow-consumer']).toBe(0);
  });

  it('publishRateBytes paces by payload volume', async () => {
    t = await startBroker({ publishRateBytes: 20_000 });
    const sub = await t.client();
    const got = collect(sub);
    await sub.subscribeAsync('bytes', { qos: 1 });
    const pub = await t.client();
    const start = Date.now();
    await Promise.all(Array.from({ length: 50 }, () => pub.publishAsync('bytes', 'x'.repeat(1000), { qos: 1 })));
    await got.waitFor(50, 10_000);
    // 50 KB at 20 KB/s with a 20 KB burst: about 1.5 s
    expect(Date.now() - start).toBeGreaterThanOrEqual(1200);
  });
});

describe('subscriptions per client', () => {
  it('maxSubscriptionsPerClient: new filters over the limit get 0x97 (3.1.1: 0x80); replacing one still works', async () => {
    t = await startBroker({ maxSubscriptionsPerClient: 3 });
    const c5 = await t.client({ protocolVersion: 5, clientId: 'subs5' });
    expect(await subackCodes(c5, { a: { qos: 0 }, b: { qos: 0 }, c: { qos: 0 }, d: { qos: 1 } })).toEqual([0, 0, 0, 0x97]);
    expect(await subackCodes(c5, { a: { qos: 1 } })).toEqual([1]);
    expect(t.broker.session('subs5')?.subscriptions).toBe(3);
    await c5.unsubscribeAsync('b');
    expect(await subackCodes(c5, { d: { qos: 0 } })).toEqual([0]);
    const c4 = await t.client({ protocolVersion: 4 });
    expect(await subackCodes(c4, { a: { qos: 0 }, b: { qos: 0 }, c: { qos: 0 }, d: { qos: 0 } })).toEqual([0, 0, 0, 0x80]);
  });
});

describe('maximum packet size', () => {
  it('an oversize Remaining Length is refused from the fixed header, before the body is sent (5.0: DISCONNECT 0x95)', async () => {
    t = await startBroker({ maxPacketSize: 1024 });
    const r = await Wire.open(t.port, 5);
    await r.handshake();
    // PUBLISH with Remaining Length 10 MiB, and only the first bytes of its body
    r.write([0x30, 0x80, 0x80, 0x80, 0x05, 0x00, 0x01, 0x61]);
    expect(await r.next('disconnect')).toMatchObject({ reasonCode: 0x95 });
    await r.waitClosed();
    r.close();
  });
});
