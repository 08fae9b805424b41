import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createBroker, isBrokerError, type Plugin } from '../../src/index.js';
import { collect, startBroker, until, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';

const opened: TestBroker[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close()));
});

async function start(options: Parameters<typeof startBroker>[0] = {}): Promise<TestBroker & { http: string }> {
  const t = await startBroker({ httpPort: 0, ...options });
  opened.push(t);
  const port = t.broker.addresses().http?.port;
  if (!port) throw new Error('no HTTP listener');
  return Object.assign(t, { http: `http://127.0.0.1:${port}` });
}

/** One sample of a metric from Prometheus text, e.g. value(text, 'midge_messages_received_total{qos="1"}'). */
function value(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  if (line === undefined) throw new Error(`no sample ${sample} in:\n${text}`);
  return Number(line.slice(sample.length + 1));
}

describe('HTTP listener', () => {
  it('/healthz answers 200; /readyz answers 200 once listening and 503 while shutting down', async () => {
    const t = await start();
    expect((await fetch(`${t.http}/healthz`)).status).toBe(200);
    const ready = await fetch(`${t.http}/readyz`);
    expect([ready.status, await ready.text()]).toEqual([200, 'ready\n']);
    // A client that reads nothing more holds the shutdown open (about 1 s) while we ask again
    const raw = await Wire.open(t.port, 5);
    await raw.handshake();
    raw.socket.pause();
    const closing = t.broker.close();
    const during = await fetch(`${t.http}/readyz`);
    expect([during.status, await during.text()]).toEqual([503, 'not ready: shutting down\n']);
    await closing;
    await expect(fetch(`${t.http}/healthz`)).rejects.toThrow();
    raw.socket.destroy();
  });

  it('unknown paths are 404, other methods 405', async () => {
    const t = await start();
    expect((await fetch(`${t.http}/nope`)).status).toBe(404);
    expect((await fetch(`${t.http}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('an HTTP port in use makes listen() reject with ERR_LISTEN and leaves nothing bound', async () => {
    const busy = await start();
    const port = busy.broker.addresses().http?.port;
    const b = createBroker({ host: '127.0.0.1', port: 0, wsPort: -1, httpPort: port, store: 'memory', logLevel: 'silent' });
    const err = await b.listen().then(() => undefined, (e: unknown) => e);
    expect(isBrokerError(err, 'ERR_LISTEN')).toBe(true);
    expect((err as Error).message).toMatch(/HTTP 127\.0\.0\.1:\d+: address already in use/);
    expect(b.addresses().tcp).toBeUndefined();
  });

  it('httpPort -1 starts no HTTP listener', async () => {
    const t = await startBroker({ httpPort: -1 });
    opened.push(t);
    expect(t.broker.addresses().http).toBeUndefined();
  });

  it('serves the status page, its script, MQTT.js and the status JSON', async () => {
    const t = await start();
    const page = await fetch(`${t.http}/`);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toContain('<script src="status.js">');
    expect(await (await fetch(`${t.http}/status.js`)).text()).toContain('mqtt.connect');
    const bundle = await fetch(`${t.http}/mqtt.min.js`);
    expect(bundle.status).toBe(200);
    expect((await bundle.text()).length).toBeGreaterThan(100_000);
    await t.client();
    const status = (await (await fetch(`${t.http}/status.json`)).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ clients: { connected: 1, sessions: 1 }, store: { kind: 'memory' }, websocket: { port: t.wsPort, path: '/mqtt' } });
    expect(status.uptimeSeconds).toBeGreaterThanOrEqual(0);
  });
});

describe('/metrics', () => {
  it('counts connections by listener, messages by QoS, bytes, retained, queued and in-flight', async () => {
    const t = await start();
    const sub = await t.client({ clientId: 'sub', clean: false });
    await sub.subscribeAsync('m/#', { qos: 1 });
    const got = collect(sub);
    await t.client({ ws: true });
    const pub = await t.client();
    await pub.publishAsync('m/a', 'zero', { qos: 0 });
    await pub.publishAsync('m/b', 'one', { qos: 1, retain: true });
    await pub.publishAsync('m/c', 'two', { qos: 2 });
    await got.waitFor(3);
    await sub.endAsync();
    await pub.publishAsync('m/d', 'queued', { qos: 1 });
    await until(() => t.broker.session('sub')?.queued === 1, 'a queued message');

    const res = await fetch(`${t.http}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(value(text, 'midge_connections')).toBe(2);
    expect(value(text, 'midge_connections_total{listener="tcp"}')).toBe(2);
    expect(value(text, 'midge_connections_total{listener="ws"}')).toBe(1);
    expect(value(text, 'midge_messages_received_total{qos="0"}')).toBe(1);
    expect(value(text, 'midge_messages_received_total{qos="1"}')).toBe(2);
    expect(value(text, 'midge_messages_received_total{qos="2"}')).toBe(1);
    expect(value(text, 'midge_messages_sent_total{qos="0"}')).toBe(1);
    expect(value(text, 'midge_messages_sent_total{qos="1"}')).toBe(2); // QoS 2 downgraded to the subscription's 1
    expect(value(text, 'midge_received_bytes_total')).toBeGreaterThan(20);
    expect(value(text, 'midge_sent_bytes_total')).toBeGreaterThan(20);
    expect(value(text, 'midge_retained_messages')).toBe(1);
    expect(value(text, 'midge_queued_messages')).toBe(1);
    expect(value(text, 'midge_inflight_messages')).toBe(0);
    expect(value(text, 'midge_subscriptions')).toBe(1);
    expect(value(text, 'midge_sessions')).toBe(3);
    expect(text).toContain('# TYPE midge_messages_received_total counter');
    expect(text).toContain('process_cpu_seconds_total');
  });

  it('counts drops by reason: not authorized, packet too large, queue full', async () => {
    const deny: Plugin = { authorizePublish: (_c, m) => !m.topic.startsWith('secret/') };
    const t = await start({ plugins: [deny], maxQueuedMessages: 1, queueOverflow: 'drop-new' });
    const small = await t.client({ protocolVersion: 5, clientId: 'small', properties: { maximumPacketSize: 100 } });
    await small.subscribeAsync('big', { qos: 0 });
    const offline = await t.client({ clientId: 'offline', clean: false });
    await offline.subscribeAsync('q', { qos: 1 });
    await offline.endAsync();
    const pub = await t.client({ protocolVersion: 5 });
    await expect(pub.publishAsync('secret/x', 'no', { qos: 1 })).rejects.toThrow(/Not authorized/);
    await pub.publishAsync('big', 'x'.repeat(500), { qos: 1 });
    await pub.publishAsync('q', 'kept', { qos: 1 });
    await pub.publishAsync('q', 'dropped', { qos: 1 });
    const text = await (await fetch(`${t.http}/metrics`)).text();
    expect(value(text, 'midge_messages_dropped_total{reason="not-authorized"}')).toBe(1);
    expect(value(text, 'midge_messages_dropped_total{reason="packet-too-large"}')).toBe(1);
    expect(value(text, 'midge_messages_dropped_total{reason="queue-full"}')).toBe(1);
    expect(value(text, 'midge_messages_dropped_total{reason="expired"}')).toBe(0);
    expect(value(text, 'midge_messages_dropped_total{reason="slow-consumer"}')).toBe(0);
  });

  it('observes store commit latency and batch size with the LevelDB store', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'midge-metrics-'));
    const t = await start({ store: 'level', dataDir, durability: 'fsync' });
    const pub = await t.client();
    for (let i = 0; i < 5; i++) await pub.publishAsync('s/t', `m${i}`, { qos: 1, retain: true });
    const text = await (await fetch(`${t.http}/metrics`)).text();
    expect(value(text, 'midge_store_commit_duration_seconds_count')).toBeGreaterThanOrEqual(5);
    expect(value(text, 'midge_store_commit_duration_seconds_sum')).toBeGreaterThan(0);
    expect(value(text, 'midge_store_commit_operations_count')).toBeGreaterThanOrEqual(5);
    expect(value(text, 'midge_store_commit_operations_bucket{le="+Inf"}')).toBe(value(text, 'midge_store_commit_operations_count'));
  });

  it('reports bridge lag per sink, and the status JSON shows the sinks', async () => {
    // A Redis sink whose engine is not there: every bridged message adds to its lag
    const bridge = {
      streams: { readings: {} },
      rules: [{ filter: 'sensors/#', stream: 'readings' }],
      sinks: [{ type: 'redis' as const, stream: 'readings', url: 'redis://127.0.0.1:1', key: 'readings' }],
    };
    const t = await start({ bridge });
    const pub = await t.client();
    for (let i = 0; i < 3; i++) await pub.publishAsync('sensors/t1', `${20 + i}`, { qos: 1 });
    const text = await (await fetch(`${t.http}/metrics`)).text();
    expect(value(text, 'midge_bridge_lag_records{sink="redis-readings",stream="readings"}')).toBe(3);
    expect(value(text, 'midge_bridge_up{sink="redis-readings",stream="readings"}')).toBe(0);
    expect(value(text, 'midge_bridge_lag_seconds{sink="redis-readings",stream="readings"}')).toBeGreaterThanOrEqual(0);
    const status = (await (await fetch(`${t.http}/status.json`)).json()) as { bridge: { sinks: { name: string; lag: number }[] } };
    expect(status.bridge.sinks).toMatchObject([{ name: 'redis-readings', lag: 3 }]);
  });

  it('each broker has its own registry: two in one process report their own figures', async () => {
    const a = await start();
    const b = await start();
    await a.client();
    const textA = await (await fetch(`${a.http}/metrics`)).text();
    const textB = await (await fetch(`${b.http}/metrics`)).text();
    expect(value(textA, 'midge_connections')).toBe(1);
    expect(value(textB, 'midge_connections')).toBe(0);
  });
});

describe('connection logs', () => {
  it('connect and disconnect are logged at info with client id, address, listener, reason and code', async () => {
    const out = new PassThrough();
    const lines: Record<string, unknown>[] = [];
    out.on('data', (d: Buffer) => lines.push(...d.toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)));
    const refuse: Plugin = { authenticate: (client) => client.id !== 'intruder' };
    const t = await startBroker({ logger: pino({ level: 'info' }, out), plugins: [refuse] });
    opened.push(t);
    const c = await t.client({ clientId: 'logged', protocolVersion: 5 });
    await c.endAsync();
    await until(() => lines.some((l) => l.msg === 'client disconnected'), 'disconnect log');
    const connected = lines.find((l) => l.msg === 'client connected');
    const disconnected = lines.find((l) => l.msg === 'client disconnected');
    expect(connected).toMatchObject({ level: 30, clientId: 'logged', listener: 'tcp', version: 5 });
    expect(connected?.address).toMatch(/127\.0\.0\.1/);
    expect(disconnected).toMatchObject({ level: 30, clientId: 'logged', listener: 'tcp', reason: expect.any(String) });
    await expect(t.client({ clientId: 'intruder', protocolVersion: 5 })).rejects.toThrow();
    await until(() => lines.some((l) => l.msg === 'connection refused'), 'refusal log');
    expect(lines.find((l) => l.msg === 'connection refused')).toMatchObject({ level: 30, code: 'ERR_NOT_AUTHORIZED', listener: 'tcp' });
    expect(lines.filter((l) => (l.level as number) < 30)).toEqual([]);
  });
});
