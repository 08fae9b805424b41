import type { IClientOptions } from 'mqtt';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { BrokerOptions, Drop } from '../../src/index.js';
import { collect, connackOf, connected, sleep, startBroker, until, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';

let t: TestBroker;
const raws: Wire[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.close();
  await t?.close();
});

const VERSIONS = [
  { name: '3.1.1', opts: { protocolVersion: 4, clean: false } },
  { name: '5.0', opts: { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 300 } } },
] as const satisfies readonly { name: string; opts: IClientOptions }[];

async function raw(version: number, clientId: string, clean = false): Promise<Wire> {
  const r = await Wire.open(t.port, version);
  raws.push(r);
  const props = version === 5 && !clean ? { properties: { sessionExpiryInterval: 300 } } : {};
  const connack = await r.handshake({ clientId, clean, ...props });
  expect(connack).toMatchObject({ cmd: 'connack' });
  return r;
}

async function rawSubscribe(r: Wire, topic: string, qos: 0 | 1 | 2): Promise<void> {
  r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] } as Packet);
  await r.next('suback');
}

function publishes(r: Wire): IPublishPacket[] {
  return r.packets.filter((p): p is IPublishPacket => p.cmd === 'publish');
}

/** Waits until the broker has processed a client's socket close: `remaining` clients are still connected. */
function offline(remaining = 0): Promise<void> {
  return until(() => t.broker.clientCount === remaining, `${remaining} connected clients`);
}

describe.each(VERSIONS)('persistent sessions ($name)', ({ opts }) => {
  it('[MQTT-3.1.2-4] subscriptions survive a disconnect', async () => {
    t = await startBroker();
    const sub = await t.client({ ...opts, clientId: 'keeper' });
    await sub.subscribeAsync('keep/#', { qos: 1 });
    await sub.endAsync();
    await offline();
    const back = t.open({ ...opts, clientId: 'keeper' });
    const got = collect(back);
    expect((await connected(back)).sessionPresent).toBe(true);
    const pub = await t.client({ protocolVersion: 4 });
    await pub.publishAsync('keep/a', 'x', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages[0]).toMatchObject({ topic: 'keep/a', payload: 'x' });
  });

  it('[MQTT-3.1.2-5] [MQTT-4.6.0-6] QoS 1 and 2 messages published while offline arrive on reconnect, in order; QoS 0 is not queued', async () => {
    t = await startBroker();
    const sub = await t.client({ ...opts, clientId: 'offline' });
    await sub.subscribeAsync('q/#', { qos: 2 });
    await sub.endAsync();
    await offline();

    const pub = await t.client({ protocolVersion: 4 });
    await pub.publishAsync('q/a', 'm1', { qos: 1 });
    await pub.publishAsync('q/b', 'm2', { qos: 2 });
    await pub.publishAsync('q/a', 'm0', { qos: 0 });
    await pub.publishAsync('q/a', 'm3', { qos: 1 });
    await pub.publishAsync('q/b', 'm4', { qos: 2 });
    await until(() => t.broker.stats.messagesReceived === 5, 'the broker to receive the five messages');

    const back = t.open({ ...opts, clientId: 'offline' });
    const wire: string[] = [];
    back.on('packetreceive', (p) => {
      if (p.cmd === 'publish') wire.push(`${p.payload.toString()}@${p.qos}`);
    });
    const got = collect(back);
    await connected(back);
    await got.waitFor(4);
    await sleep(100);
    // the order on the wire; mqtt.js itself emits a QoS 2 message only at PUBREL
    expect(wire).toEqual(['m1@1', 'm2@2', 'm3@1', 'm4@2']);
    expect(got.messages.map((m) => m.payload).sort()).toEqual(['m1', 'm2', 'm3', 'm4']);
  });
});

describe('offline queue bound', () => {
  async function fillQueue(queueOverflow: 'drop-oldest' | 'drop-new', limits: BrokerOptions = { maxQueuedMessages: 3 }) {
    const drops: Drop[] = [];
    t = await startBroker({ ...limits, queueOverflow, plugins: [{ onDropped: (d) => void drops.push(d) }] });
    const sub = await t.client({ protocolVersion: 4, clientId: 'bounded', clean: false });
    await sub.subscribeAsync('bound', { qos: 1 });
    await sub.endAsync();
    await offline();
    const pub = await t.client({ protocolVersion: 4 });
    for (let i = 0; i < 10; i++) await pub.publishAsync('bound', `m${i}`, { qos: 1 });
    const back = t.open({ protocolVersion: 4, clientId: 'bounded', clean: false });
    const got = collect(back);
    await connected(back);
    await got.waitFor(3);
    await sleep(100);
    return { drops, received: got.messages.map((m) => m.payload) };
  }

  it('drop-oldest keeps the newest N and reports each drop through onDropped with reason queue-full', async () => {
    const { drops, received } = await fillQueue('drop-oldest');
    expect(received).toEqual(['m7', 'm8', 'm9']);
    expect(drops.map((d) => [d.clientId, d.reason, d.message.payload.toString()])).toEqual(
      [0, 1, 2, 3, 4, 5, 6].map((i) => ['bounded', 'queue-full', `m${i}`]),
    );
    expect(t.broker.stats.dropped['queue-full']).toBe(7);
  });

  it('maxQueuedBytes bounds the queue by payload bytes (drop-oldest)', async () => {
    const { drops, received } = await fillQueue('drop-oldest', { maxQueuedBytes: 6 });
    expect(received).toEqual(['m7', 'm8', 'm9']); // 2-byte payloads: three fit in six bytes
    expect(drops).toHaveLength(7);
  });

  it('drop-new keeps the oldest N and drops what arrives after the queue is full', async () => {
    const { drops, received } = await fillQueue('drop-new');
    expect(received).toEqual(['m0', 'm1', 'm2']);
    expect(drops.map((d) => [d.reason, d.message.payload.toString()])).toEqual(
      [3, 4, 5, 6, 7, 8, 9].map((i) => ['queue-full', `m${i}`]),
    );
    expect(t.broker.stats.dropped['queue-full']).toBe(7);
  });
});

describe.each([4, 5])('redelivery on session resume (level %i)', (version) => {
  it('[MQTT-4.4.0-1] [MQTT-3.3.1-1] unacknowledged QoS 1 messages are resent in their original order with DUP=1', async () => {
    t = await startBroker();
    const first = await raw(version, 'no-ack');
    await rawSubscribe(first, 'redo', 1);
    const pub = await t.client({ protocolVersion: 4 });
    for (let i = 0; i < 5; i++) await pub.publishAsync('redo', `m${i}`, { qos: 1 });
    await until(() => publishes(first).length === 5, 'five PUBLISH packets');
    const original = publishes(first);
    expect(original.map((p) => p.dup)).toEqual([false, false, false, false, false]);
    first.close(); // never acknowledged
    await offline(1);

    const second = await raw(version, 'no-ack');
    await until(() => publishes(second).length === 5, 'five resent PUBLISH packets');
    const resent = publishes(second);
    expect(resent.map((p) => p.payload.toString())).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(resent.map((p) => p.messageId)).toEqual(original.map((p) => p.messageId));
    expect(resent.every((p) => p.dup && p.qos === 1)).toBe(true);

    // once acknowledged, they are not sent again and new messages flow with DUP=0
    for (const p of resent) second.send({ cmd: 'puback', messageId: p.messageId } as Packet);
    await pub.publishAsync('redo', 'fresh', { qos: 1 });
    await until(() => publishes(second).length === 6, 'the fresh PUBLISH');
    expect(publishes(second)[5]).toMatchObject({ dup: false });
    expect(publishes(second)[5]?.payload.toString()).toBe('fresh');
  });

  it('[MQTT-4.4.0-1] QoS 2: an unacknowledged PUBLISH is resent with DUP=1, an unanswered PUBREL is resent as PUBREL', async () => {
    t = await startBroker();
    const first = await raw(version, 'qos2-resume');
    await rawSubscribe(first, 'redo2', 2);
    const pub = await t.client({ protocolVersion: 4 });
    await pub.publishAsync('redo2', 'a', { qos: 2 });
    await pub.publishAsync('redo2', 'b', { qos: 2 });
    await until(() => publishes(first).length === 2, 'two PUBLISH packets');
    const [a, b] = publishes(first) as [IPublishPacket, IPublishPacket];
    first.send({ cmd: 'pubrec', messageId: a.messageId } as Packet); // 'a' reaches PUBREL; 'b' stays unacknowledged
    const pubrel = await first.next('pubrel');
    expect(pubrel).toMatchObject({ messageId: a.messageId });
    first.close();
    await offline(1);

    const second = await raw(version, 'qos2-resume');
    const resentRel = await second.next('pubrel');
    expect(resentRel).toMatchObject({ messageId: a.messageId });
    await until(() => publishes(second).length === 1, 'the resent PUBLISH');
    await sleep(50);
    const resent = publishes(second);
    expect(resent).toHaveLength(1); // 'a' is not sent again as a PUBLISH
    expect(resent[0]).toMatchObject({ messageId: b.messageId, dup: true, qos: 2 });
    expect(resent[0]?.payload.toString()).toBe('b');
  });
});

describe('in-flight window', () => {
  async function windowOf5(version: number, brokerOptions: { maxInflight?: number }, connectExtra: Record<string, unknown>) {
    t = await startBroker(brokerOptions);
    const r = await Wire.open(t.port, version);
    raws.push(r);
    await r.handshake({ clientId: 'window', ...connectExtra });
    await rawSubscribe(r, 'win', 1);
    const pub = await t.client({ protocolVersion: 4 });
    for (let i = 0; i < 12; i++) await pub.publishAsync('win', `m${i}`, { qos: 1 });
    await until(() => publishes(r).length >= 5, 'five PUBLISH packets');
    await sleep(150);
    expect(publishes(r)).toHaveLength(5); // the window is full: nothing more until acknowledged

    r.send({ cmd: 'puback', messageId: publishes(r)[0]?.messageId } as Packet);
    await until(() => publishes(r).length >= 6, 'one more PUBLISH after one PUBACK');
    await sleep(50);
    expect(publishes(r)).toHaveLength(6);

    // acknowledge everything as it arrives: the rest follow, in order
    let acked = 1;
    await until(() => {
      const all = publishes(r);
      while (acked < all.length) r.send({ cmd: 'puback', messageId: all[acked++]?.messageId } as Packet);
      return all.length === 12;
    }, 'all twelve PUBLISH packets');
    expect(publishes(r).map((p) => p.payload.toString())).toEqual(Array.from({ length: 12 }, (_, i) => `m${i}`));
  }

  it('broker maxInflight 5: only 5 unacknowledged QoS 1 PUBLISH packets at a time, then the rest in order', async () => {
    await windowOf5(4, { maxInflight: 5 }, {});
  });

  it('[MQTT-3.3.4-7] 5.0 client Receive Maximum 5 caps the window the same way', async () => {
    await windowOf5(5, {}, { properties: { receiveMaximum: 5 } });
  });
});

describe('session expiry (5.0)', () => {
  it('[MQTT-3.1.2-23] a session with Session Expiry Interval 1 is gone after ~1.5 s', async () => {
    const expired: string[] = [];
    t = await startBroker({ plugins: [{ onSessionExpired: (id) => void expired.push(id) }] });
    const opts = { protocolVersion: 5 as const, clientId: 'short', clean: false, properties: { sessionExpiryInterval: 1 } };
    const c = await t.client(opts);
    await c.subscribeAsync('short/t', { qos: 1 });
    await c.endAsync();
    await offline();
    expect(t.broker.sessionCount).toBe(1); // kept for now
    await sleep(1500);
    expect(t.broker.sessionCount).toBe(0);
    expect(expired).toEqual(['short']);
    const back = await t.client(opts);
    expect(connackOf(back).sessionPresent).toBe(false);
  });

  it('a resumed session does not expire while its client is connected', async () => {
    t = await startBroker();
    const opts = { protocolVersion: 5 as const, clientId: 'stays', clean: false, properties: { sessionExpiryInterval: 1 } };
    const c = await t.client(opts);
    await c.subscribeAsync('stays/t', { qos: 1 });
    await c.endAsync();
    await offline();
    const back = t.open(opts);
    const got = collect(back);
    expect((await connected(back)).sessionPresent).toBe(true);
    await sleep(1500); // longer than the expiry interval, but connected all along
    expect(t.broker.sessionCount).toBe(1);
    const pub = await t.client({ protocolVersion: 4 });
    await pub.publishAsync('stays/t', 'still here', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages[0]?.payload).toBe('still here');
  });

  it('[MQTT-3.14.2-2] DISCONNECT can lower the Session Expiry Interval to 0, ending the session', async () => {
    t = await startBroker();
    const opts = { protocolVersion: 5 as const, clientId: 'quitter', clean: false, properties: { sessionExpiryInterval: 300 } };
    const c = await t.client(opts);
    await c.subscribeAsync('quit/t', { qos: 1 });
    await c.endAsync(false, { properties: { sessionExpiryInterval: 0 } });
    await offline();
    expect(t.broker.sessionCount).toBe(0);
    const back = await t.client(opts);
    expect(connackOf(back).sessionPresent).toBe(false);
  });

  it('a session reconnected before its expiry is still present', async () => {
    t = await startBroker();
    const opts = { protocolVersion: 5 as const, clientId: 'short2', clean: false, properties: { sessionExpiryInterval: 2 } };
    const c = await t.client(opts);
    await c.endAsync();
    await offline();
    await sleep(500);
    const back = await t.client(opts);
    expect(connackOf(back).sessionPresent).toBe(true);
    await back.endAsync();
    await offline();
    await sleep(1500); // the timer restarted at the second disconnect: still within 2 s
    expect(t.broker.sessionCount).toBe(1);
  });
});

describe('maxSessionExpiryInterval caps 3.1 / 3.1.1 persistent sessions', () => {
  it('maxSessionExpiryInterval 1: a 3.1.1 clean=false session is gone about 1 s after disconnect (reconnect: sessionPresent false)', async () => {
    t = await startBroker({ maxSessionExpiryInterval: 1 });
    const opts = { protocolVersion: 4 as const, clean: false, clientId: 'capped' };
    const c = await t.client(opts);
    await c.subscribeAsync('capped/#', { qos: 1 });
    await c.endAsync();
    const left = Date.now();
    await until(() => t.broker.clientCount === 0, 'the client to be gone');
    expect(t.broker.sessionCount).toBe(1);
    await until(() => t.broker.sessionCount === 0, 'the session to expire', 2500);
    expect(Date.now() - left).toBeGreaterThanOrEqual(900);
    const back = await t.client(opts);
    expect(connackOf(back).sessionPresent).toBe(false);
  });
});
