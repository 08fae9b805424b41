import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Packet } from 'mqtt-packet';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createBroker, type Broker, type BrokerOptions } from '../../src/index.js';
import type { LogRecord } from '../../src/bridge/record.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';

const root = mkdtempSync(path.join(tmpdir(), 'midge-log-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => path.join(root, `data-${n++}`);

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const t of opened.splice(0).reverse()) await t.close();
});

async function start(options: BrokerOptions): Promise<TestBroker> {
  const t = await startBroker(options);
  opened.push(t);
  return t;
}

/** A LevelDB broker without listeners, for restart tests. */
async function levelBroker(dataDir: string, bridge: BrokerOptions['bridge']): Promise<Broker> {
  const broker = createBroker({ port: -1, wsPort: -1, httpPort: -1, logLevel: 'silent', store: 'level', dataDir, durability: 'fsync', bridge });
  await broker.start();
  return broker;
}

const payloads = (records: LogRecord[]) => records.map((r) => r.payload.toString());

describe('bridge rules and the embedded log', () => {
  it('appends matching messages of every QoS with their metadata and MQTT 5 properties, in order', async () => {
    const t = await start({ bridge: { rules: [{ filter: 'sensors/#', stream: 'sensors' }] } });
    const c = await t.client({ protocolVersion: 5 });
    const properties = { userProperties: { site: 'a' }, contentType: 'application/json', correlationData: Buffer.from([1, 2, 3]) };
    await c.publishAsync('sensors/t1', 'one', { qos: 1, retain: true, properties });
    await c.publishAsync('other/t1', 'skipped', { qos: 1 });
    await c.publishAsync('sensors/t2', 'two', { qos: 2 });
    await c.publishAsync('sensors/t3', 'three', { qos: 0 });
    await c.publishAsync('sensors/t4', 'four', { qos: 1 }); // after the QoS 0 one on the same connection
    await t.broker.publish({ topic: 'sensors/t5', payload: 'five', qos: 1 });
    const records = await t.broker.log.read('sensors');
    expect(payloads(records)).toEqual(['one', 'two', 'three', 'four', 'five']);
    expect(records.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4]);
    const first = records[0] as LogRecord;
    expect(first).toMatchObject({ stream: 'sensors', topic: 'sensors/t1', qos: 1, retain: true });
    expect(first.properties?.userProperties).toEqual({ site: 'a' });
    expect(first.properties?.contentType).toBe('application/json');
    expect(first.properties?.correlationData).toEqual(Buffer.from([1, 2, 3]));
    expect(Math.abs(first.timestamp - Date.now())).toBeLessThan(5000);
    expect(await t.broker.log.read('sensors', { from: 2, limit: 1 })).toHaveLength(1);
    expect(t.broker.log.stat('sensors')).toMatchObject({ first: 0, next: 5, records: 5 });
  });

  it('sends a message to several streams once each, honours a QoS restriction, and keeps # away from $ topics', async () => {
    const t = await start({
      bridge: {
        rules: [
          { filter: '#', stream: 'all' },
          { filter: 'a/+', stream: 'all' },
          { filter: 'a/+', stream: 'reliable', qos: [1, 2] },
        ],
      },
    });
    const c = await t.client();
    await c.publishAsync('a/x', 'q0', { qos: 0 });
    await c.publishAsync('a/x', 'q1', { qos: 1 });
    await c.publishAsync('$internal/x', 'hidden', { qos: 1 });
    expect(payloads(await t.broker.log.read('all'))).toEqual(['q0', 'q1']);
    expect(payloads(await t.broker.log.read('reliable'))).toEqual(['q1']);
  });

  it('[MQTT-4.3.3-9] appends a QoS 2 message once when the publisher resends it before PUBREL', async () => {
    const t = await start({ bridge: { rules: [{ filter: 'q2/#', stream: 's' }] } });
    const raw = await Wire.open(t.port, 4);
    opened.push({ close: async () => void raw.socket.destroy() });
    await raw.handshake();
    const publish = { cmd: 'publish', topic: 'q2/a', payload: Buffer.from('once'), qos: 2, messageId: 7, retain: false } as Packet;
    raw.send(publish);
    await raw.next('pubrec');
    raw.send({ ...publish, dup: true } as Packet);
    await raw.next('pubrec');
    raw.send({ cmd: 'pubrel', messageId: 7 } as Packet);
    await raw.next('pubcomp');
    expect(payloads(await t.broker.log.read('s'))).toEqual(['once']);
  });

  it('follows a stream: the iterator yields new records as they are committed and ends on abort', async () => {
    const t = await start({ bridge: { rules: [{ filter: 'f/#', stream: 'f' }] } });
    const abort = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const r of t.broker.log.follow('f', { signal: abort.signal })) {
        seen.push(r.payload.toString());
        if (seen.length === 3) abort.abort();
      }
    })();
    const c = await t.client();
    for (const p of ['a', 'b', 'c']) await c.publishAsync('f/x', p, { qos: 1 });
    await done;
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('consumer groups resume from their committed offset', async () => {
    const t = await start({ bridge: { rules: [{ filter: 'g/#', stream: 'g' }] } });
    for (let i = 0; i < 5; i++) await t.broker.publish({ topic: 'g/x', payload: `m${i}`, qos: 1 });
    const take = async (count: number) => {
      const out: string[] = [];
      for await (const r of t.broker.log.follow('g', { group: 'analytics', limit: 2 })) {
        out.push(r.payload.toString());
        if (out.length === count) break;
      }
      return out;
    };
    expect(await take(3)).toEqual(['m0', 'm1', 'm2']);
    expect(t.broker.log.groupOffset('g', 'analytics')).toBe(3);
    expect(await take(2)).toEqual(['m3', 'm4']);
    expect(t.broker.log.stat('g').groups).toEqual({ analytics: 5 });
  });

  it('reports an unknown stream and a bad group name clearly', async () => {
    const t = await start({ bridge: { rules: [{ filter: 'x', stream: 'x' }] } });
    await expect(t.broker.log.read('nope')).rejects.toThrow(/unknown log stream: "nope" \(streams: x\)/);
    await expect(t.broker.log.commitGroup('x', 'bad name', 0)).rejects.toThrow(/group name/);
  });

  it('retention removes the oldest records by size and by age, and offsets keep increasing', async () => {
    const t = await start({
      bridge: { streams: { small: { maxBytes: 2000, maxAgeSeconds: 0 }, young: { maxAgeSeconds: 60 } }, rules: [{ filter: 's', stream: 'small' }, { filter: 'y', stream: 'young' }] },
    });
    for (let i = 0; i < 50; i++) await t.broker.publish({ topic: 's', payload: Buffer.alloc(100, i), qos: 1 });
    for (let i = 0; i < 5; i++) await t.broker.publish({ topic: 'y', payload: `y${i}`, qos: 1 });
    await t.broker.bridge.enforceRetention();
    const small = t.broker.log.stat('small');
    expect(small.bytes).toBeLessThanOrEqual(2000);
    expect(small.next).toBe(50);
    expect(small.first).toBeGreaterThan(30);
    const kept = await t.broker.log.read('small', { from: 0, limit: 100 });
    expect(kept[0]?.offset).toBe(small.first);
    expect(kept.map((r) => r.offset)).toEqual(Array.from({ length: 50 - small.first }, (_, i) => small.first + i));
    expect(t.broker.log.stat('young').records).toBe(5);
    await t.broker.bridge.enforceRetention(Date.now() + 61_000);
    expect(t.broker.log.stat('young')).toMatchObject({ first: 5, next: 5, records: 0 });
    await t.broker.publish({ topic: 'y', payload: 'later', qos: 1 });
    expect((await t.broker.log.read('young'))[0]?.offset).toBe(5);
  });
});

describe('the log in the LevelDB store', () => {
  it('keeps records, offsets and group offsets across a restart; retention state too', async () => {
    const dir = freshDir();
    const bridge = { streams: { s: { maxBytes: 1500 } }, rules: [{ filter: 't/#', stream: 's' }] };
    let broker = await levelBroker(dir, bridge);
    for (let i = 0; i < 20; i++) await broker.publish({ topic: 't/a', payload: Buffer.alloc(100, 65 + i), qos: 1 });
    await broker.log.commitGroup('s', 'g1', 4);
    await broker.bridge.enforceRetention();
    const before = broker.log.stat('s');
    expect(before.first).toBeGreaterThan(0);
    await broker.close();
    broker = await levelBroker(dir, bridge);
    opened.push(broker);
    expect(broker.log.stat('s')).toEqual(before);
    await broker.publish({ topic: 't/b', payload: 'after', qos: 0 });
    const records = await broker.log.read('s', { from: 19 });
    expect(records.map((r) => [r.offset, r.payload.toString().slice(0, 5)])).toEqual([
      [19, 'TTTTT'],
      [20, 'after'],
    ]);
  });

  it('lists a stream left on disk after its rule was removed', async () => {
    const dir = freshDir();
    let broker = await levelBroker(dir, { rules: [{ filter: 'old', stream: 'old' }] });
    await broker.publish({ topic: 'old', payload: 'x', qos: 1 });
    await broker.close();
    broker = await levelBroker(dir, { rules: [{ filter: 'new', stream: 'new' }] });
    opened.push(broker);
    expect(broker.log.names()).toEqual(['new', 'old']);
    expect(payloads(await broker.log.read('old'))).toEqual(['x']);
  });
});

describe('bridge options', () => {
  it.each([
    [{ rules: [{ filter: 'a/#/b', stream: 's' }] }, /bridge\.rules\[0\]\.filter: invalid topic filter "a\/#\/b"/],
    [{ rules: [{ filter: 'a', stream: 'bad name' }] }, /bridge\.rules\[0\]\.stream: expected a stream name/],
    [{ rules: [{ filter: 'a', stream: 's', qos: 3 }] }, /bridge\.rules\[0\]\.qos/],
    [{ sinks: [{ type: 'kafkaesque', stream: 's' }] }, /bridge\.sinks\[0\]\.type: unknown sink type "kafkaesque" \(expected nats\|redis\|kafka\)/],
    [{ sinks: [{ type: 'nats', stream: 's', servers: 'nats://x' }] }, /bridge\.sinks\[0\]\.subject/],
    [{ overflow: 'spill' }, /bridge\.overflow: expected drop-oldest\|block/],
    [{ streams: { s: { maxBytes: -1 } } }, /bridge\.streams\.s\.maxBytes/],
    [{ unknown: 1 }, /bridge\.unknown: unknown key/],
  ])('refuses %j with a clear message', (bridge, message) => {
    expect(() => createBroker({ bridge } as unknown as BrokerOptions)).toThrow(message);
  });
});
