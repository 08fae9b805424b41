import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { IClientOptions } from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { LevelStore, MemoryStore, type Drop, type Store } from '../../src/index.js';
import { collect, connected, startBroker, until, type TestBroker } from '../helpers/broker.js';
import { GatedStore } from '../helpers/gated-store.js';

const root = mkdtempSync(path.join(tmpdir(), 'midge-durable-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => path.join(root, `data-${n++}`);

let t: TestBroker | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe('acknowledge after commit', () => {
  it('PUBACK and PUBREC wait for the commit; PUBCOMP waits for the release commit', async () => {
    const store = new GatedStore();
    t = await startBroker({ store: store as Store });
    const pub = await t.client({ protocolVersion: 5 });
    let acked = false;
    const done = pub.publishAsync('a', 'x', { qos: 1 }).then(() => (acked = true));
    await until(() => store.pending > 0, 'commit requested');
    expect(acked).toBe(false);
    store.release();
    await done;
    const q2 = pub.publishAsync('a', 'y', { qos: 2 });
    await until(() => store.pending > 0, 'PUBREC commit');
    store.release();
    await until(() => store.pending > 0, 'PUBCOMP commit (release)');
    store.release();
    await q2;
    store.gated = false;
  });

  it('a failed commit is never acknowledged: MQTT 5 gets PUBACK 0x80, 3.1.1 is disconnected', async () => {
    const store = new GatedStore();
    t = await startBroker({ store: store as Store });
    const v5 = await t.client({ protocolVersion: 5 });
    const refused = v5.publishAsync('a', 'x', { qos: 1 }).catch((err: { code?: number }) => err.code ?? -1);
    await until(() => store.pending > 0, 'commit requested');
    store.fail();
    expect(await refused).toBe(0x80);
    const v4 = await t.client({ protocolVersion: 4 });
    const closedV4 = new Promise<void>((resolve) => v4.once('close', () => resolve()));
    v4.publish('a', 'y', { qos: 1 });
    await until(() => store.pending > 0, 'commit requested');
    store.fail();
    await closedV4;
    expect(t.broker.stats.storeErrors).toBe(2);
    store.gated = false;
  });
});

describe('MemoryStore', () => {
  it('keeps queued messages across broker.close() and a new broker on the same store (snapshot at close)', async () => {
    const store = new MemoryStore();
    t = await startBroker({ store });
    const sub = await t.client({ protocolVersion: 4, clientId: 'keeper', clean: false });
    await sub.subscribeAsync('q', { qos: 1 });
    await sub.endAsync();
    await until(() => t?.broker.session('keeper')?.connected === false, 'offline');
    for (let i = 0; i < 5; i++) await t.broker.publish({ topic: 'q', payload: `m${i}`, qos: 1 });
    await t.close();
    t = await startBroker({ store });
    expect(t.broker.session('keeper')?.queued).toBe(5);
    const back = t.open({ protocolVersion: 4, clientId: 'keeper', clean: false });
    const got = collect(back);
    await got.waitFor(5);
    expect(got.messages.map((m) => m.payload)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    await until(() => t?.broker.session('keeper')?.inflight === 0, 'all acknowledged');
    await t.close();
    // the second close snapshots nothing: every message was delivered
    expect((await store.open()).deliveries).toEqual([]);
    t = undefined;
  });
});

describe('LevelDB store', () => {
  it('restores queued QoS 1/2 messages and inbound QoS 2 state after a restart', async () => {
    const dataDir = freshDir();
    t = await startBroker({ store: 'level', dataDir });
    const sub = await t.client({ protocolVersion: 5, clientId: 'backend', clean: false, properties: { sessionExpiryInterval: 600 } });
    await sub.subscribeAsync('plant/#', { qos: 2 });
    await sub.endAsync();
    const pub = await t.client({ protocolVersion: 4 });
    for (let i = 0; i < 20; i++) await pub.publishAsync('plant/temp', `m${i}`, { qos: (1 + (i % 2)) as 1 | 2 });
    await t.close();

    t = await startBroker({ store: 'level', dataDir });
    expect(t.broker.session('backend')?.queued).toBe(20);
    const back = t.open({ protocolVersion: 5, clientId: 'backend', clean: false, properties: { sessionExpiryInterval: 600 } });
    const got = collect(back);
    expect((await connected(back)).sessionPresent).toBe(true);
    await got.waitFor(20);
    // mqtt.js emits QoS 2 messages on PUBREL, so compare the order within each QoS
    for (const qos of [1, 2]) {
      const expected = Array.from({ length: 20 }, (_, i) => i).filter((i) => 1 + (i % 2) === qos).map((i) => `m${i}`);
      expect(got.messages.filter((m) => m.packet.qos === qos).map((m) => m.payload)).toEqual(expected);
    }
  });

  it('pages a long queue: memory holds about one page, every message arrives in order', async () => {
    const dataDir = freshDir();
    t = await startBroker({ store: 'level', dataDir, queuePageSize: 10, maxQueuedMessages: 100_000 });
    const sub = await t.client({ protocolVersion: 4, clientId: 'slow', clean: false });
    await sub.subscribeAsync('feed', { qos: 1 });
    await sub.endAsync();
    await until(() => t?.broker.session('slow')?.connected === false, 'offline');
    await Promise.all(Array.from({ length: 500 }, (_, i) => t?.broker.publish({ topic: 'feed', payload: `${i}`, qos: 1 })));
    expect(t.broker.session('slow')).toMatchObject({ queued: 500, queuedInMemory: 10 });
    await t.close();

    t = await startBroker({ store: 'level', dataDir, queuePageSize: 10, maxQueuedMessages: 100_000 });
    expect(t.broker.session('slow')).toMatchObject({ queued: 500 });
    expect(t.broker.session('slow')?.queuedInMemory).toBeLessThanOrEqual(10);
    const back = t.open({ protocolVersion: 4, clientId: 'slow', clean: false });
    const got = collect(back);
    await got.waitFor(500, 10_000);
    expect(got.messages.map((m) => Number(m.payload))).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });

  it('a connected slow consumer gets every message in order while its queue spills to disk and pages back', async () => {
    const dataDir = freshDir();
    t = await startBroker({ store: 'level', dataDir, queuePageSize: 4, maxQueuedMessages: 100_000 });
    const sub = await t.client({ protocolVersion: 5, clientId: 'trickle', clean: false, properties: { sessionExpiryInterval: 60, receiveMaximum: 2 } });
    const got = collect(sub);
    await sub.subscribeAsync('feed', { qos: 1 });
    for (let round = 0; round < 10; round++) {
      await Promise.all(Array.from({ length: 30 }, (_, i) => t?.broker.publish({ topic: 'feed', payload: `${round * 30 + i}`, qos: 1 })));
    }
    await got.waitFor(300, 10_000);
    expect(got.messages.map((m) => Number(m.payload))).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });

  it('a QoS 1 message for sessions that end with their connection is acknowledged without a write, and arrives in order beyond a page', async () => {
    const store = new LevelStore(freshDir());
    t = await startBroker({ store, queuePageSize: 4, maxQueuedMessages: 1000 });
    /** A subscriber that holds its PUBACKs until `release()`, so its queue grows beyond a page. */
    const holding = async (options: IClientOptions) => {
      const held: (() => void)[] = [];
      let holds = true;
      const received: string[] = [];
      const client = await (t as TestBroker).client({
        protocolVersion: 5,
        ...options,
        customHandleAcks: (_topic: string, payload: Buffer, _packet: unknown, ack: (error: Error | number) => void) => {
          received.push(payload.toString());
          if (holds) held.push(() => ack(0));
          else ack(0);
        },
      });
      await client.subscribeAsync('feed', { qos: 1 });
      return { received, release: () => ((holds = false), held.splice(0).forEach((ack) => ack())) };
    };
    const publishAll = async (from: number) => {
      const pub = await (t as TestBroker).client({ protocolVersion: 5 });
      for (let i = from; i < from + 40; i++) await pub.publishAsync('feed', `${i}`, { qos: 1 });
      await pub.endAsync();
    };
    const clean = await holding({ clientId: 'ephemeral', properties: { receiveMaximum: 2 } });
    await store.flush();
    const before = store.stats.operations;
    await publishAll(0);
    await store.flush();
    expect(store.stats.operations - before).toBeLessThan(10); // the publisher's session, nothing per message
    expect(t.broker.session('ephemeral')?.queued).toBe(38);
    clean.release();
    await until(() => clean.received.length === 40, 'all 40 delivered');
    expect(clean.received.map(Number)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    // The same load to a persistent session is written: a message and a delivery record each
    const kept = await holding({ clientId: 'kept', clean: false, properties: { receiveMaximum: 2, sessionExpiryInterval: 60 } });
    await store.flush();
    const beforeKept = store.stats.operations;
    await publishAll(40);
    await store.flush();
    expect(store.stats.operations - beforeKept).toBeGreaterThanOrEqual(80);
    kept.release();
    await until(() => kept.received.length === 40, 'all 40 delivered to the persistent session');
  });

  it('an expired session with a paged-out queue reports every message and leaves nothing on disk', async () => {
    const dataDir = freshDir();
    const drops: Drop[] = [];
    const options = { store: 'level' as const, dataDir, queuePageSize: 10, maxQueuedMessages: 100_000 };
    t = await startBroker({ ...options, plugins: [{ onDropped: (d) => drops.push(d) }] });
    const sub = await t.client({ protocolVersion: 5, clientId: 'brief', clean: false, properties: { sessionExpiryInterval: 1 } });
    await sub.subscribeAsync('feed', { qos: 1 });
    await sub.endAsync();
    await Promise.all(Array.from({ length: 200 }, (_, i) => t?.broker.publish({ topic: 'feed', payload: `${i}`, qos: 1 })));
    await until(() => drops.length === 200, '200 drops reported', 5000);
    expect(new Set(drops.map((d) => d.reason))).toEqual(new Set(['session-ended']));
    await t.close();
    t = undefined;
    const store = new LevelStore(dataDir);
    const state = await store.open();
    expect(state.deliveries).toEqual([]);
    expect(state.backlogs).toEqual([]);
    expect(state.messages).toEqual([]);
    expect(state.references.size).toBe(0);
    await store.close();
  });
});
