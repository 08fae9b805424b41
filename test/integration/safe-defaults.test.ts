import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_DEFAULTS, createBroker, DEFAULTS, hashPassword, LevelStore, type Broker, type BrokerOptions } from '../../src/index.js';
import { resolveOptions } from '../../src/options.js';
import { collect, startBroker, until, type TestBroker } from '../helpers/broker.js';

const opened: (Broker | TestBroker)[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((b) => b.close()));
});

/** A broker whose log lines are collected as parsed JSON objects. */
async function logged(options: BrokerOptions): Promise<{ broker: Broker; lines: Record<string, unknown>[] }> {
  const out = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  out.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  const broker = createBroker({ port: 0, wsPort: -1, sysInterval: 0, ...options, logger: pino({ level: 'info' }, out) });
  opened.push(broker);
  await broker.listen();
  await new Promise((r) => setImmediate(r));
  return { broker, lines };
}

describe('library defaults (createBroker) and server defaults (midge)', () => {
  it('createBroker opens no HTTP listener and keeps state in memory unless asked', async () => {
    const broker = createBroker({ host: '127.0.0.1', port: 0, wsPort: -1, logLevel: 'silent' });
    opened.push(broker);
    const addresses = await broker.listen();
    expect(addresses.http).toBeUndefined();
    expect(broker.options.store).toBe('memory');
    expect(DEFAULTS.httpPort).toBe(-1);
    // Two embedded brokers no longer collide on 8080 or ./data
    const second = createBroker({ host: '127.0.0.1', port: 0, wsPort: -1, logLevel: 'silent' });
    opened.push(second);
    await second.listen();
  });

  it('a dataDir asks for the LevelDB store; the CLI defaults are LevelDB and HTTP on 8080', () => {
    expect(resolveOptions({ dataDir: '/tmp/x' }).store).toBe('level');
    expect(resolveOptions({ dataDir: '/tmp/x', store: 'memory' }).store).toBe('memory');
    expect(CLI_DEFAULTS).toEqual({ httpPort: 8080, store: 'level' });
  });

  it('the HTTP listener binds to 127.0.0.1 unless httpHost says otherwise', async () => {
    const t = await startBroker({ host: '0.0.0.0', httpPort: 0 });
    opened.push(t);
    expect(DEFAULTS.httpHost).toBe('127.0.0.1');
    expect(t.broker.addresses().http?.host).toBe('127.0.0.1');
  });
});

describe('warning about anonymous clients on a reachable interface', () => {
  it('is logged once at start when anonymous clients are accepted on 0.0.0.0', async () => {
    const { lines } = await logged({ host: '0.0.0.0' });
    const warnings = lines.filter((l) => l.level === 40 && String(l.msg).startsWith('anonymous clients are accepted'));
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]?.msg)).toMatch(/on 0\.0\.0\.0:\d+: create users with `midge passwd -c FILE USER` and start with --password-file FILE/);
  });

  it('is not logged on loopback, nor with a password file, but is with allowAnonymous', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'midge-anon-'));
    const file = path.join(dir, 'passwd');
    writeFileSync(file, `alice:${await hashPassword(Buffer.from('pw'))}\n`);
    const quiet = [await logged({ host: '127.0.0.1' }), await logged({ host: '0.0.0.0', passwordFile: file })];
    for (const { lines } of quiet) expect(lines.filter((l) => String(l.msg).startsWith('anonymous'))).toEqual([]);
    const open = await logged({ host: '0.0.0.0', passwordFile: file, allowAnonymous: true });
    expect(open.lines.find((l) => String(l.msg).startsWith('anonymous'))?.msg).toMatch(/remove allowAnonymous/);
  });
});

describe('the start line', () => {
  it('gives the version, the store, the data directory and the durability mode', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'midge-start-'));
    const { broker, lines } = await logged({ host: '127.0.0.1', dataDir: dir, durability: 'batch' });
    const start = lines.find((l) => l.msg === 'midge listening');
    expect(start).toMatchObject({ version: broker.version, store: 'level', dataDir: dir, durability: 'batch' });
  });
});

describe('$SYS stays out of the store and the retained count', () => {
  it('a fresh broker shows 0 retained, $SYS is still served retained, and nothing of it reaches the store', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'midge-sys-'));
    const t = await startBroker({ store: 'level', dataDir: dir, sysInterval: 1 });
    const sub = await t.client();
    const got = collect(sub);
    await sub.subscribeAsync('$SYS/broker/#');
    await until(() => got.messages.some((m) => m.topic === '$SYS/broker/retained messages/count'), 'the retained $SYS topics');
    expect(got.messages.find((m) => m.topic === '$SYS/broker/retained messages/count')?.payload).toBe('0');
    expect(t.broker.retainedCount).toBe(0);
    const pub = await t.client();
    await pub.publishAsync('a/b', 'kept', { qos: 1, retain: true });
    expect(t.broker.retainedCount).toBe(1);
    await t.close();
    const store = new LevelStore(dir);
    const state = await store.open();
    await store.close();
    expect(state.retained.map((m) => m.topic)).toEqual(['a/b']);
  });

  it('drops $SYS messages that an older version stored, at start', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'midge-sys-old-'));
    const store = new LevelStore(dir);
    await store.open();
    const message = { id: 1, topic: '$SYS/broker/uptime', payload: Buffer.from('5 seconds'), qos: 0 as const, retain: true, properties: {}, expiresAt: undefined, origin: undefined };
    store.saveRetained(message);
    await store.flush();
    await store.close();
    const t = await startBroker({ store: 'level', dataDir: dir });
    expect(t.broker.retainedCount).toBe(0);
    await t.close();
    const again = new LevelStore(dir);
    const state = await again.open();
    await again.close();
    expect(state.retained).toEqual([]);
  });
});
