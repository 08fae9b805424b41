/**
 * NATS JetStream and Redis Streams sinks against real servers: the server is killed (-9) in the
 * middle of a stream and restarted; the engine must then hold every record exactly once, in order.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { connect } from 'nats';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createBroker, type Broker, type BrokerOptions } from '../../src/index.js';
import type { SinkOptions } from '../../src/bridge/config.js';
import { until } from '../helpers/broker.js';
import { Engine, freePort, installed } from '../helpers/engines.js';

const hasNats = installed('nats-server');
const hasRedis = installed('redis-server');
if (!hasNats) console.warn('SKIPPED: nats-server is not installed (apt-get install nats-server); NATS sink tests skipped');
if (!hasRedis) console.warn('SKIPPED: redis-server is not installed (apt-get install redis-server); Redis sink tests skipped');

const root = mkdtempSync(path.join(tmpdir(), 'midge-sinks-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Error-level log lines of a broker, as objects. */
function captureLogs(level = 'warn'): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

async function broker(sink: SinkOptions, extra: Partial<NonNullable<BrokerOptions['bridge']>> = {}, options: BrokerOptions = {}): Promise<Broker> {
  const b = createBroker({
    port: -1,
    wsPort: -1,
    logLevel: 'silent',
    store: 'level',
    durability: 'batch',
    dataDir: path.join(root, `data-${dirs++}`),
    bridge: { rules: [{ filter: 'm/#', stream: 'm' }], sinks: [sink], ...extra },
    ...options,
  });
  await b.start();
  cleanups.push(() => b.close());
  return b;
}

async function engine(kind: 'nats' | 'redis'): Promise<Engine> {
  const e = kind === 'nats' ? await Engine.nats() : await Engine.redis();
  cleanups.push(() => e.destroy());
  await e.start();
  return e;
}

/** Publishes m0..m(count-1), killing the engine after `killAt` and restarting it `downMs` later. */
async function publishThroughOutage(b: Broker, e: Engine, count: number, killAt: number, downMs: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    if (i === killAt) {
      await until(() => (b.bridge.status().sinks[0]?.shipped ?? 0) > 0, 'the sink to ship something first');
      await e.kill();
      setTimeout(() => void e.start(), downMs);
    }
    await b.publish({ topic: `m/${i % 3}`, payload: `m${i}`, qos: 1 });
  }
}

async function caughtUp(b: Broker, count: number, timeoutMs = 20_000): Promise<void> {
  await until(() => b.bridge.status().sinks[0]?.cursor === count, `the sink to ship ${count} records (${JSON.stringify(b.bridge.status().sinks[0])})`, timeoutMs);
}

async function natsRecords(port: number, stream: string): Promise<{ id: string | undefined; payload: string; topic: string | undefined }[]> {
  const nc = await connect({ servers: `nats://127.0.0.1:${port}` });
  try {
    const jsm = await nc.jetstreamManager();
    const info = await jsm.streams.info(stream);
    const out = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq });
      out.push({ id: m.header.get('midge-id'), payload: Buffer.from(m.data).toString(), topic: m.header.get('mqtt-topic') });
    }
    return out;
  } finally {
    await nc.close();
  }
}

async function redisEntries(port: number, key: string): Promise<{ id: string; payload: string; topic: string }[]> {
  const redis = new Redis(port, '127.0.0.1', { lazyConnect: true });
  await redis.connect();
  try {
    const entries = await redis.xrange(key, '-', '+');
    return entries.map(([id, fields]) => {
      const f = Object.fromEntries(fields.reduce<[string, string][]>((acc, v, i, all) => (i % 2 === 0 ? [...acc, [v, all[i + 1] as string]] : acc), []));
      return { id, payload: f.payload as string, topic: f.topic as string };
    });
  } finally {
    redis.disconnect();
  }
}

const expected = (count: number, from = 0) => Array.from({ length: count - from }, (_, k) => `m${k + from}`);

describe.skipIf(!hasNats)('NATS JetStream sink (real nats-server)', () => {
  it('ships every record exactly once and in order across a kill -9 and restart of nats-server', async () => {
    const e = await engine('nats');
    const b = await broker({ type: 'nats', stream: 'm', servers: `nats://127.0.0.1:${e.port}`, subject: 'midge.m', batchSize: 16 });
    await publishThroughOutage(b, e, 300, 100, 300);
    await caughtUp(b, 300);
    const records = await natsRecords(e.port, 'MIDGE_m');
    expect(records.map((r) => r.payload)).toEqual(expected(300));
    expect(records.map((r) => r.id)).toEqual(Array.from({ length: 300 }, (_, i) => `m:${i}`));
    expect(records[4]?.topic).toBe('m/1');
    const status = b.bridge.status().sinks[0];
    expect(status).toMatchObject({ name: 'nats-m', type: 'nats', state: 'running', lagRecords: 0, lagSeconds: 0, dropped: 0 });
  }, 40_000);

  it('starts while nats-server is unreachable, logs it, and catches up once it is there', async () => {
    const port = await freePort();
    const { logger, lines } = captureLogs('info');
    const b = await broker({ type: 'nats', stream: 'm', servers: `nats://127.0.0.1:${port}`, subject: 'midge.m' }, {}, { logger });
    for (let i = 0; i < 20; i++) await b.publish({ topic: 'm/x', payload: `m${i}`, qos: 1 });
    await until(() => b.bridge.status().sinks[0]?.state === 'retrying', 'the sink to report the failure');
    const status = b.bridge.status().sinks[0];
    expect(status?.lagRecords).toBe(20);
    expect(status?.lagSeconds).toBeGreaterThanOrEqual(0);
    // The driver's message wrapped in a sentence naming the sink, the engine and the cause
    const failure = lines.find((l) => String(l.msg).startsWith(`sink nats-m cannot reach nats nats://127.0.0.1:${port} subject midge.m: `));
    expect(failure?.msg).toMatch(/: connection refused \(is the server running, and is this its address\?\) \(driver: .*\); retrying in \d+ ms$/);
    const e = await Engine.nats();
    cleanups.push(() => e.destroy());
    // The engine takes over the port the sink keeps trying
    (e as unknown as { port: number }).port = port;
    await e.start();
    await caughtUp(b, 20);
    expect((await natsRecords(port, 'MIDGE_m')).map((r) => r.payload)).toEqual(expected(20));
    await until(() => lines.some((l) => l.msg === 'sink nats-m recovered'), 'the recovery log line');
    const recovered = lines.filter((l) => l.msg === 'sink nats-m recovered');
    expect(recovered).toHaveLength(1);
    expect(recovered[0]?.failures).toBeGreaterThanOrEqual(1);
  }, 40_000);

  it('resumes from its durable cursor after a broker restart without duplicates', async () => {
    const e = await engine('nats');
    const dataDir = path.join(root, `data-${dirs++}`);
    const sink = { type: 'nats', stream: 'm', servers: `nats://127.0.0.1:${e.port}`, subject: 'midge.m' } as const;
    let b = await broker(sink, {}, { dataDir });
    for (let i = 0; i < 30; i++) await b.publish({ topic: 'm/x', payload: `m${i}`, qos: 1 });
    await caughtUp(b, 30);
    await b.close();
    b = await broker(sink, {}, { dataDir });
    expect(b.bridge.status().sinks[0]?.cursor).toBe(30);
    for (let i = 30; i < 40; i++) await b.publish({ topic: 'm/x', payload: `m${i}`, qos: 1 });
    await caughtUp(b, 40);
    expect((await natsRecords(e.port, 'MIDGE_m')).map((r) => r.payload)).toEqual(expected(40));
  }, 30_000);
});

describe.skipIf(!hasNats)('NATS JetStream sink: an existing stream', () => {
  it('refuses, with a clear error in its status, a JetStream stream that does not capture the subject', async () => {
    const e = await engine('nats');
    const nc = await connect({ servers: `nats://127.0.0.1:${e.port}` });
    await (await nc.jetstreamManager()).streams.add({ name: 'MIDGE_m', subjects: ['elsewhere'] });
    await nc.close();
    const b = await broker({ type: 'nats', stream: 'm', servers: `nats://127.0.0.1:${e.port}`, subject: 'midge.m' });
    await until(() => b.bridge.status().sinks[0]?.state === 'retrying', 'the sink to report the mismatch');
    expect(b.bridge.status().sinks[0]?.lastError).toBe('JetStream stream MIDGE_m exists but does not capture subject midge.m (it has elsewhere)');
  }, 20_000);
});

describe.skipIf(!hasRedis)('Redis Streams sink (real redis-server)', () => {
  it('trims the Redis stream to about maxLen entries', async () => {
    const e = await engine('redis');
    const b = await broker({ type: 'redis', stream: 'm', url: `redis://127.0.0.1:${e.port}`, key: 'midge:m', maxLen: 10 });
    for (let i = 0; i < 600; i++) void b.publish({ topic: 'm/x', payload: `m${i}`, qos: 0 });
    await b.publish({ topic: 'm/x', payload: 'm600', qos: 1 });
    await caughtUp(b, 601);
    const entries = await redisEntries(e.port, 'midge:m');
    expect(entries.length).toBeLessThan(601);
    expect(entries.length).toBeGreaterThanOrEqual(10);
    expect(entries[entries.length - 1]?.id).toBe('600-1');
  }, 20_000);

  it('ships every record exactly once and in order across a kill -9 and restart of redis-server', async () => {
    const e = await engine('redis');
    const b = await broker({ type: 'redis', stream: 'm', url: `redis://127.0.0.1:${e.port}`, key: 'midge:m', batchSize: 16 });
    await publishThroughOutage(b, e, 300, 100, 300);
    await caughtUp(b, 300);
    const entries = await redisEntries(e.port, 'midge:m');
    expect(entries.map((r) => r.payload)).toEqual(expected(300));
    expect(entries.map((r) => r.id)).toEqual(Array.from({ length: 300 }, (_, i) => `${i}-1`));
    expect(b.bridge.status().sinks[0]).toMatchObject({ state: 'running', lagRecords: 0, dropped: 0 });
  }, 40_000);

  it('a resend after a lost cursor is refused by the entry id, not duplicated', async () => {
    const e = await engine('redis');
    const dataDir = path.join(root, `data-${dirs++}`);
    const sink = { type: 'redis', stream: 'm', url: `redis://127.0.0.1:${e.port}`, key: 'midge:m' } as const;
    let b = await broker(sink, {}, { dataDir });
    for (let i = 0; i < 10; i++) await b.publish({ topic: 'm/x', payload: `m${i}`, qos: 1 });
    await caughtUp(b, 10);
    await b.close();
    // Same log, a sink under a new name: its cursor starts at 0 and every record is sent again
    b = await broker({ ...sink, name: 'fresh' }, {}, { dataDir });
    await caughtUp(b, 10);
    expect((await redisEntries(e.port, 'midge:m')).map((r) => r.payload)).toEqual(expected(10));
  }, 30_000);

  it("drop-oldest: retention removes records the sink could not ship, counts and logs them", async () => {
    const port = await freePort();
    const { logger, lines } = captureLogs();
    const b = await broker({ type: 'redis', stream: 'm', url: `redis://127.0.0.1:${port}`, key: 'midge:m' }, { streams: { m: { maxBytes: 2000 } } }, { logger });
    for (let i = 0; i < 40; i++) await b.publish({ topic: 'm/x', payload: Buffer.from(`m${i}`.padEnd(100, '.')), qos: 1 });
    await b.bridge.enforceRetention();
    const { first } = b.log.stat('m');
    expect(first).toBeGreaterThan(0);
    expect(b.bridge.status().sinks[0]?.dropped).toBe(first);
    expect(lines.some((l) => l.msg === 'retention removed records the sink had not shipped' && l.count === first)).toBe(true);
    const e = await Engine.redis();
    cleanups.push(() => e.destroy());
    (e as unknown as { port: number }).port = port;
    await e.start();
    await caughtUp(b, 40);
    const entries = await redisEntries(port, 'midge:m');
    expect(entries.map((r) => r.id)).toEqual(Array.from({ length: 40 - first }, (_, i) => `${first + i}-1`));
  }, 30_000);

  it('block: QoS 1 acknowledgements wait while the stream is full, and go out once the sink ships', async () => {
    const port = await freePort();
    const b = await broker(
      { type: 'redis', stream: 'm', url: `redis://127.0.0.1:${port}`, key: 'midge:m' },
      { streams: { m: { maxBytes: 1500 } }, overflow: 'block', retentionIntervalMs: 50 },
      { port: 0, host: '127.0.0.1' },
    );
    const { tcp } = await b.listen();
    const mqtt = await import('mqtt');
    const client = await mqtt.default.connectAsync(`mqtt://127.0.0.1:${tcp?.port}`, { reconnectPeriod: 0 });
    cleanups.push(() => client.endAsync(true));
    const acked: number[] = [];
    const sends = Array.from({ length: 40 }, (_, i) => client.publishAsync('m/x', `m${i}`.padEnd(100, '.'), { qos: 1 }).then(() => acked.push(i)));
    sends.forEach((p) => p.catch(() => undefined)); // a failure shows in the checks below
    await until(() => b.bridge.status().blocked > 0, 'acknowledgements to be withheld');
    await new Promise((r) => setTimeout(r, 300)); // acknowledgements of records appended before the stream filled
    const withheldAt = acked.length;
    expect(withheldAt).toBeLessThan(40);
    await new Promise((r) => setTimeout(r, 300));
    expect(acked.length, 'nothing acknowledged while the stream is full').toBe(withheldAt);
    const e = await Engine.redis();
    cleanups.push(() => e.destroy());
    (e as unknown as { port: number }).port = port;
    await e.start();
    await Promise.all(sends);
    expect(acked, 'acknowledgements in order').toEqual([...Array(40).keys()]);
    await caughtUp(b, 40);
    expect((await redisEntries(port, 'midge:m')).map((r) => r.payload.slice(0, 3).replace(/\.+$/, ''))).toEqual(expected(40).map((p) => p.slice(0, 3)));
    expect(b.bridge.status().sinks[0]?.dropped).toBe(0);
  }, 30_000);
});
