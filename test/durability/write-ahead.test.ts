/**
 * Write-ahead of outbound QoS 1/2 traffic: with a durable store, no QoS 1/2 PUBLISH and no PUBREL
 * leaves the broker before the commit that holds the records identifying it (the message, the
 * delivery with its packet id and state, the inbound QoS 2 id). QoS 0 never waits. The crash
 * suite (test/crash/online-subscriber.test.ts) checks what this buys across kill -9.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Packet } from 'mqtt-packet';
import type { Store } from '../../src/index.js';
import { startBroker, until, type TestBroker } from '../helpers/broker.js';
import { GatedStore } from '../helpers/gated-store.js';
import { Wire } from '../helpers/wire.js';

const root = mkdtempSync(path.join(tmpdir(), 'midge-write-ahead-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => path.join(root, `data-${n++}`);

let t: TestBroker | undefined;
const raws: Wire[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.close();
  await t?.close();
  t = undefined;
});

async function raw(port: number, version: 4 | 5, connect: Record<string, unknown>): Promise<Wire> {
  const c = await Wire.open(port, version);
  raws.push(c);
  await c.handshake(connect);
  return c;
}

async function subscribed(c: Wire, topic: string, qos: 0 | 1 | 2): Promise<void> {
  c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] } as Packet);
  await c.next('suback');
}

const publish = (topic: string, payload: string, qos: 0 | 1 | 2, messageId?: number): Packet =>
  ({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false, messageId }) as Packet;

describe('write-ahead of outbound QoS 1/2', () => {
  it('a QoS 1/2 PUBLISH reaches a subscriber only after its commit; QoS 0 does not wait', async () => {
    const store = new GatedStore();
    t = await startBroker({ store: store as Store });
    const sub = await raw(t.port, 5, { clientId: 'wa-sub', clean: false, properties: { sessionExpiryInterval: 60 } });
    await subscribed(sub, 'wa/#', 2);
    const pub = await raw(t.port, 5, { clientId: 'wa-pub' });
    pub.send(publish('wa/0', 'zero', 0));
    expect(((await sub.next('publish')) as { payload: Buffer }).payload.toString()).toBe('zero');
    pub.send(publish('wa/1', 'one', 1, 7));
    pub.send(publish('wa/2', 'two', 2, 8));
    await until(() => store.pending > 0, 'a commit requested');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sub.packets.filter((p) => p.cmd === 'publish'), 'nothing forwarded before the commit').toEqual([]);
    expect(pub.packets, 'nothing acknowledged before the commit').toEqual([]);
    store.release();
    const one = (await sub.next('publish')) as { payload: Buffer; qos: number; dup: boolean };
    const two = (await sub.next('publish')) as { payload: Buffer; qos: number; dup: boolean };
    expect([one.payload.toString(), one.qos, one.dup, two.payload.toString(), two.qos, two.dup]).toEqual(['one', 1, false, 'two', 2, false]);
    await pub.next('puback');
    await pub.next('pubrec');
    store.gated = false;
  });

  it('[MQTT-4.3.3-4] PUBREL to a subscriber waits for the commit of the delivery\'s PUBREL state', async () => {
    const store = new GatedStore();
    t = await startBroker({ store: store as Store });
    const sub = await raw(t.port, 5, { clientId: 'wa-rel', clean: false, properties: { sessionExpiryInterval: 60 } });
    await subscribed(sub, 'rel', 2);
    const published = t.broker.publish({ topic: 'rel', payload: 'x', qos: 2 });
    await until(() => store.pending > 0, 'the delivery commit');
    store.release();
    await published;
    const delivery = (await sub.next('publish')) as { messageId: number };
    sub.send({ cmd: 'pubrec', messageId: delivery.messageId } as Packet);
    await until(() => store.pending > 0, 'the PUBREL-state commit');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sub.packets.filter((p) => p.cmd === 'pubrel'), 'no PUBREL before the commit').toEqual([]);
    store.release();
    expect(((await sub.next('pubrel')) as { messageId: number }).messageId).toBe(delivery.messageId);
    store.gated = false;
  });

  for (const qos of [1, 2] as const) {
    it(`a publisher that also subscribes gets its ${qos === 1 ? 'PUBACK' : 'PUBREC'} before its own message (as with Mosquitto)`, async () => {
      t = await startBroker({ store: 'level', dataDir: freshDir() });
      const c = await raw(t.port, 5, { clientId: `wa-self-${qos}`, clean: false, properties: { sessionExpiryInterval: 60 } });
      await subscribed(c, 'self', qos);
      c.send(publish('self', 'me', qos, 11));
      await c.next('publish');
      await c.next(qos === 1 ? 'puback' : 'pubrec');
      expect(c.received.map((p) => p.cmd)).toEqual(['connack', 'suback', qos === 1 ? 'puback' : 'pubrec', 'publish']);
    });
  }

  it('a session that ends with its connection (expiry 0) gets its QoS 1/2 messages without waiting: a restart discards it', async () => {
    const store = new GatedStore();
    t = await startBroker({ store: store as Store });
    const sub = await raw(t.port, 5, { clientId: 'wa-clean' });
    await subscribed(sub, 'clean/#', 1);
    const published = t.broker.publish({ topic: 'clean/1', payload: 'x', qos: 1 });
    expect(((await sub.next('publish')) as { payload: Buffer }).payload.toString()).toBe('x');
    expect(store.pending, 'the commit is still open').toBeGreaterThan(0);
    store.release();
    await published;
    store.gated = false;
  });

  it('[MQTT-4.3.3-9] a resent QoS 2 PUBLISH gets the PUBREC reason code of the first, also after a restart', async () => {
    const dataDir = freshDir();
    t = await startBroker({ store: 'level', dataDir });
    let c = await raw(t.port, 5, { clientId: 'wa-nosub', clean: false, properties: { sessionExpiryInterval: 60 } });
    c.send(publish('nobody/listens', 'x', 2, 21));
    expect(((await c.next('pubrec')) as { reasonCode: number }).reasonCode, 'first PUBREC: no matching subscribers').toBe(0x10);
    c.send({ ...publish('nobody/listens', 'x', 2, 21), dup: true } as Packet);
    expect(((await c.next('pubrec')) as { reasonCode: number }).reasonCode, 'PUBREC of the resend').toBe(0x10);
    c.close();
    await t.close();
    t = await startBroker({ store: 'level', dataDir });
    c = await raw(t.port, 5, { clientId: 'wa-nosub', clean: false, properties: { sessionExpiryInterval: 60 } });
    c.send({ ...publish('nobody/listens', 'x', 2, 21), dup: true } as Packet);
    expect(((await c.next('pubrec')) as { reasonCode: number }).reasonCode, 'PUBREC of a resend after a restart').toBe(0x10);
    c.send({ cmd: 'pubrel', messageId: 21 } as Packet);
    expect(((await c.next('pubcomp')) as { reasonCode?: number }).reasonCode ?? 0).toBe(0);
  });
});

describe('acknowledgement order when one is withheld', () => {
  it('a PUBACK released by its barrier while its commit is pending still goes before the next one [MQTT-4.6.0-2]', async () => {
    const store = new GatedStore();
    store.gated = false;
    let letGo!: () => void;
    const barrier = new Promise<void>((resolve) => (letGo = resolve));
    // A plugin that withholds the acknowledgement of the first message only (as flow control or a 'block' policy does)
    const holder = { name: 'holder', holdAcknowledgement: (_c: unknown, m: { payload: Buffer }) => (m.payload.toString() === 'first' ? barrier : undefined) };
    t = await startBroker({ store: store as Store, plugins: [holder] });
    const pub = await raw(t.port, 5, { clientId: 'order-pub' });
    store.gated = true;
    pub.send(publish('order/a', 'first', 1, 1));
    await until(() => store.pending > 0, 'the first commit requested');
    letGo(); // the barrier lets go before the commit is done
    await new Promise((resolve) => setTimeout(resolve, 50));
    pub.send(publish('order/a', 'second', 1, 2));
    await until(() => store.pending > 1, 'the second commit requested');
    store.gated = false;
    store.release();
    await until(() => pub.packets.filter((p) => p.cmd === 'puback').length === 2, 'both acknowledged');
    expect(pub.packets.filter((p) => p.cmd === 'puback').map((p) => (p as { messageId: number }).messageId)).toEqual([1, 2]);
  });
});
