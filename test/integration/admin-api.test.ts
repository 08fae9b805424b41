import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IDisconnectPacket } from 'mqtt';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ADMIN_CREDENTIALS_FILE } from '../../src/auth/admin-credentials.js';
import { openApiYaml } from '../../src/http/openapi.js';
import { collect, startBroker, until, type TestBroker } from '../helpers/broker.js';
import { runCommand, type CommandResult } from '../helpers/run.js';

const MAIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const opened: TestBroker[] = [];
const dirs: string[] = [];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

beforeAll(() => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first with \`npx tsc -p tsconfig.json\``);
});

/** Runs `midge admin ...` as a user would; `input` goes to standard input. */
function admin(args: string[], input = ''): Promise<CommandResult> {
  return runCommand(process.execPath, [MAIN, 'admin', ...args], input);
}

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'midge-admin-'));
  dirs.push(dir);
  return dir;
}

interface Api {
  readonly t: TestBroker;
  readonly base: string;
  get(url: string, auth?: string): Promise<{ status: number; body: any }>;
  send(method: string, url: string, auth?: string, body?: unknown): Promise<{ status: number; body: any }>;
}

/** A broker with its HTTP listener on a free port; `dataDir` holds the admin credentials. */
async function start(options: Parameters<typeof startBroker>[0] = {}): Promise<Api> {
  const t = await startBroker({ httpPort: 0, dataDir: tempDir(), ...options });
  opened.push(t);
  const base = `http://127.0.0.1:${t.broker.addresses().http?.port}`;
  const send = async (method: string, url: string, auth?: string, body?: unknown) => {
    const headers: Record<string, string> = {};
    if (auth) headers.authorization = auth;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(base + url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
  };
  return { t, base, send, get: (url, auth) => send('GET', url, auth) };
}

const bearer = (token: string) => `Bearer ${token}`;
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Adds a token with `midge admin add-token` and returns it. */
async function addToken(dataDir: string, name: string, role: 'admin' | 'read'): Promise<string> {
  const run = await admin(['add-token', name, '--role', role, '--data-dir', dataDir]);
  expect(run.code, run.stderr).toBe(0);
  return run.stdout.trim();
}

describe('midge admin', () => {
  it('adds tokens and users stored hashed (owner-only file), lists and removes them; bad usage exits 2', async () => {
    const dir = tempDir();
    const token = await addToken(dir, 'ci', 'admin');
    expect(token).toMatch(/^midge_[A-Za-z0-9_-]{43}$/);
    const user = await admin(['add-user', 'alice', '--role', 'read', '--stdin', '--data-dir', dir], 's3cret\n');
    expect([user.code, user.stdout.trim()]).toEqual([0, `added user alice (read) in ${path.join(dir, ADMIN_CREDENTIALS_FILE)}`]);
    const file = path.join(dir, ADMIN_CREDENTIALS_FILE);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(token);
    expect(text).not.toContain('s3cret');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const list = await admin(['list', '--json', '--data-dir', dir]);
    expect(JSON.parse(list.stdout)).toMatchObject([
      { name: 'ci', kind: 'token', role: 'admin' },
      { name: 'alice', kind: 'user', role: 'read' },
    ]);
    expect((await admin(['remove', 'ci', '--data-dir', dir])).code).toBe(0);
    expect(JSON.parse((await admin(['list', '--json', '--data-dir', dir])).stdout)).toHaveLength(1);
    for (const bad of [['add-token', 'x', '--role', 'root'], ['add-token', 'x'], ['remove', 'nobody'], ['frobnicate'], ['add-token', 'bad name', '--role', 'read']]) {
      const run = await admin([...bad, '--data-dir', dir]);
      expect(run.code, bad.join(' ')).toBe(2);
      expect(run.stderr).toMatch(/^midge: /);
    }
    expect((await admin(['add-user', 'alice', '--role', 'read', '--stdin', '--data-dir', dir], 's3cret\n')).stdout).toContain('updated user alice');
  }, 60_000);
});

describe('admin API access', () => {
  it('with no credentials configured: loopback may read without credentials, nobody may act', async () => {
    const api = await start();
    const status = await api.get('/api/v1/status');
    expect(status.status).toBe(200);
    const json = (await api.get('/status.json')).body;
    expect(Object.keys(status.body).sort()).toEqual(Object.keys(json).sort());
    expect(await api.get('/api/v1/whoami')).toMatchObject({ status: 200, body: { name: 'anonymous', role: 'read', readOnly: true } });
    const publish = await api.send('POST', '/api/v1/publish', undefined, { topic: 'a', payload: 'x' });
    expect(publish.status).toBe(403);
    expect(publish.body.message).toMatch(/read-only: no admin is configured/);
  });

  it('with tokens: none or a bad one is 401, read may read but not act, admin may act; the file is reread while running', async () => {
    const api = await start();
    const dataDir = api.t.broker.options.dataDir;
    const reader = await addToken(dataDir, 'grafana', 'read');
    await new Promise((r) => setTimeout(r, 1100)); // the credentials file is checked at most once a second
    expect((await api.get('/api/v1/clients')).status).toBe(401);
    expect((await api.get('/status.json')).status).toBe(401);
    expect((await api.get('/api/v1/clients', bearer('midge_wrong'))).status).toBe(401);
    expect((await api.get('/api/v1/clients', bearer(reader))).status).toBe(200);
    const kick = await api.send('POST', '/api/v1/clients/x/kick', bearer(reader));
    expect(kick.status).toBe(403);
    const boss = await addToken(dataDir, 'ops', 'admin');
    await new Promise((r) => setTimeout(r, 1100));
    expect((await api.send('POST', '/api/v1/clients/x/kick', bearer(boss))).status).toBe(404);
    expect((await api.get('/api/v1/whoami', bearer(boss))).body).toEqual({ name: 'ops', role: 'admin', kind: 'token', readOnly: false });
    // Open whatever the credentials
    expect((await api.get('/healthz')).status).toBe(200);
    expect((await api.get('/readyz')).status).toBe(200);
    expect((await api.get('/metrics')).status).toBe(200);
    expect((await api.get('/')).status).toBe(200);
  });

  it('users: Basic authentication, login for a token, logout; metricsAuth protects /metrics', async () => {
    const dataDir = tempDir();
    const run = await admin(['add-user', 'root', '--role', 'admin', '--stdin', '--data-dir', dataDir], 'hunter22\n');
    expect(run.code).toBe(0);
    const api = await start({ dataDir, metricsAuth: true });
    expect((await api.get('/api/v1/whoami', basic('root', 'hunter22'))).body).toMatchObject({ name: 'root', role: 'admin', kind: 'user' });
    expect((await api.get('/api/v1/whoami', basic('root', 'wrong'))).status).toBe(401);
    expect((await api.get('/api/v1/whoami', basic('nobody', 'hunter22'))).status).toBe(401);
    expect((await api.send('POST', '/api/v1/login', undefined, { username: 'root', password: 'nope' })).status).toBe(401);
    const login = await api.send('POST', '/api/v1/login', undefined, { username: 'root', password: 'hunter22' });
    expect(login).toMatchObject({ status: 200, body: { name: 'root', role: 'admin' } });
    expect(Date.parse(login.body.expiresAt)).toBeGreaterThan(Date.now() + 11 * 3600_000);
    expect((await api.get('/api/v1/whoami', bearer(login.body.token))).body).toMatchObject({ name: 'root', kind: 'login' });
    expect((await api.send('POST', '/api/v1/logout', bearer(login.body.token))).status).toBe(204);
    expect((await api.get('/api/v1/whoami', bearer(login.body.token))).status).toBe(401);
    expect((await api.get('/metrics')).status).toBe(401);
    const metrics = await api.get('/metrics', basic('root', 'hunter22'));
    expect([metrics.status, String(metrics.body)]).toEqual([200, expect.stringContaining('midge_connections')]);
    expect((await api.get('/healthz')).status).toBe(200);
  });

  it('a malformed credentials file stops the start with a message naming it', async () => {
    const dataDir = tempDir();
    writeFileSync(path.join(dataDir, ADMIN_CREDENTIALS_FILE), '{"version": 1, "tokens": [{"name": "x"}], "users": []}');
    await expect(startBroker({ httpPort: 0, dataDir })).rejects.toThrow(/admin-credentials\.json: tokens\[0\] is malformed/);
  });
});

describe('admin API', () => {
  async function withAdmin(options: Parameters<typeof startBroker>[0] = {}) {
    const dataDir = tempDir();
    const token = await addToken(dataDir, 'ops', 'admin');
    const api = await start({ dataDir, ...options });
    const auth = bearer(token);
    return {
      ...api,
      auth,
      get: (url: string) => api.get(url, auth),
      send: (method: string, url: string, body?: unknown) => api.send(method, url, auth, body),
    };
  }

  it('lists clients with search and paging, shows one client, and kicks it (DISCONNECT 0x98, will published)', async () => {
    const api = await withAdmin();
    const watcher = await api.t.client({ clientId: 'watcher' });
    await watcher.subscribeAsync('wills/#', { qos: 1 });
    const wills = collect(watcher);
    const sensor = await api.t.client({
      clientId: 'sensor-1', username: 'kitchen', protocolVersion: 5, keepalive: 30,
      will: { topic: 'wills/sensor-1', payload: Buffer.from('gone'), qos: 1, retain: false },
    });
    await sensor.subscribeAsync('cmd/sensor-1', { qos: 1 });
    for (let i = 2; i <= 5; i++) await api.t.client({ clientId: `sensor-${i}`, ws: i === 5 });

    const all = await api.get('/api/v1/clients');
    expect(all.body.total).toBe(6);
    expect(all.body.items.map((c: { clientId: string }) => c.clientId)).toEqual(['sensor-1', 'sensor-2', 'sensor-3', 'sensor-4', 'sensor-5', 'watcher']);
    const paged = await api.get('/api/v1/clients?q=sensor&offset=1&limit=2');
    expect(paged.body).toMatchObject({ total: 5, offset: 1, limit: 2 });
    expect(paged.body.items.map((c: { clientId: string }) => c.clientId)).toEqual(['sensor-2', 'sensor-3']);
    expect((await api.get('/api/v1/clients?username=KITCH')).body.items).toMatchObject([{ clientId: 'sensor-1' }]);
    expect((await api.get('/api/v1/clients?address=127.0.0.1')).body.total).toBe(6);
    expect((await api.get('/api/v1/clients?q=10.9.9.9')).body.total).toBe(0);
    expect((await api.get('/api/v1/clients?limit=0')).status).toBe(400);
    expect((await api.get('/api/v1/clients?colour=red')).status).toBe(400);

    const one = await api.get('/api/v1/clients/sensor-1');
    expect(one.body).toMatchObject({
      clientId: 'sensor-1', username: 'kitchen', address: '127.0.0.1', listener: 'tcp', protocolVersion: 5, keepalive: 30,
      subscriptionCount: 1, inflight: 0, queued: 0, expiryInterval: 0,
      subscriptions: [{ clientId: 'sensor-1', filter: 'cmd/sensor-1', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    });
    expect(Date.now() - Date.parse(one.body.connectedAt)).toBeLessThan(10_000);
    expect((await api.get('/api/v1/clients/sensor-5')).body.listener).toBe('ws');
    expect((await api.get('/api/v1/clients/nobody')).status).toBe(404);

    const disconnected = new Promise<IDisconnectPacket>((resolve) => sensor.once('disconnect', resolve));
    expect((await api.send('POST', '/api/v1/clients/sensor-1/kick')).status).toBe(204);
    expect((await disconnected).reasonCode).toBe(0x98);
    await wills.waitFor(1);
    expect(wills.messages[0]).toMatchObject({ topic: 'wills/sensor-1' });
    await until(() => api.t.broker.clientCount === 5, 'the kicked client gone');
    expect((await api.send('POST', '/api/v1/clients/sensor-1/kick')).status).toBe(404);
  });

  it('sessions, offline ones included: list, inspect, delete (the client comes back to no session)', async () => {
    const api = await withAdmin();
    const backend = await api.t.client({ clientId: 'backend', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
    await backend.subscribeAsync('jobs/#', { qos: 1 });
    await backend.endAsync();
    await api.t.client({ clientId: 'online' });
    const pub = await api.t.client({ clientId: 'pub' });
    await pub.publishAsync('jobs/1', 'do it', { qos: 1 });
    await until(() => api.t.broker.session('backend')?.queued === 1, 'a queued message');

    const list = await api.get('/api/v1/sessions');
    expect(list.body.items.map((s: { clientId: string }) => s.clientId)).toEqual(['backend', 'online', 'pub']);
    const offline = await api.get('/api/v1/sessions?connected=false');
    expect(offline.body.items).toMatchObject([{ clientId: 'backend', connected: false, expiryInterval: 3600, queued: 1, subscriptionCount: 1 }]);
    const item = offline.body.items[0];
    expect(Date.parse(item.expiresAt) - Date.parse(item.disconnectedAt)).toBe(3600_000);
    const one = await api.get('/api/v1/sessions/backend');
    expect(one.body).toMatchObject({ clientId: 'backend', queued: 1, subscriptions: [{ filter: 'jobs/#', qos: 1 }] });
    expect((await api.get('/api/v1/sessions?connected=true&clientId=ONL')).body.items).toMatchObject([{ clientId: 'online', connected: true }]);

    expect((await api.send('DELETE', '/api/v1/sessions/backend')).status).toBe(204);
    expect((await api.get('/api/v1/sessions/backend')).status).toBe(404);
    expect((await api.send('DELETE', '/api/v1/sessions/backend')).status).toBe(404);
    const back = await api.t.client({ clientId: 'backend', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 3600 } });
    const got = collect(back);
    await pub.publishAsync('jobs/2', 'nobody listens', { qos: 1 });
    await new Promise((r) => setTimeout(r, 200));
    expect(got.messages).toEqual([]); // neither the queued message nor the subscription survived

    // Deleting a connected client's session kicks it first
    expect((await api.send('DELETE', '/api/v1/sessions/online')).status).toBe(204);
    await until(() => api.t.broker.session('online') === undefined && api.t.broker.clientCount === 2, 'online session gone');
  });

  it('a deleted session and a cleared retained message stay gone after a restart (LevelDB store)', async () => {
    const dataDir = tempDir();
    const token = await addToken(dataDir, 'ops', 'admin');
    const first = await start({ dataDir, store: 'level' });
    const keep = await first.t.client({ clientId: 'keep', clean: false });
    await keep.subscribeAsync('k/#', { qos: 1 });
    const gone = await first.t.client({ clientId: 'gone', clean: false });
    await gone.subscribeAsync('g/#', { qos: 1 });
    await gone.publishAsync('r/1', 'one', { qos: 1, retain: true });
    await gone.publishAsync('r/2', 'two', { qos: 1, retain: true });
    await Promise.all([keep.endAsync(), gone.endAsync()]);
    expect((await first.send('DELETE', '/api/v1/sessions/gone', bearer(token))).status).toBe(204);
    expect((await first.send('DELETE', '/api/v1/retained/message?topic=r/1', bearer(token))).status).toBe(204);
    await first.t.close();
    opened.splice(opened.indexOf(first.t), 1);

    const second = await start({ dataDir, store: 'level' });
    const sessions = await second.get('/api/v1/sessions', bearer(token));
    expect(sessions.body.items.map((s: { clientId: string }) => s.clientId)).toEqual(['keep']);
    const retained = await second.get('/api/v1/retained', bearer(token));
    expect(retained.body.items.map((m: { topic: string }) => m.topic)).toEqual(['r/2']);
  });

  it('subscriptions: list and filter by client, filter, matching topic, QoS and shared group', async () => {
    const api = await withAdmin();
    const a = await api.t.client({ clientId: 'a', protocolVersion: 5 });
    await a.subscribeAsync({ 'site/+/temp': { qos: 1 }, 'site/#': { qos: 0 } });
    const b = await api.t.client({ clientId: 'b', protocolVersion: 5 });
    await b.subscribeAsync('$share/workers/jobs/#', { qos: 2 });
    const all = await api.get('/api/v1/subscriptions');
    expect(all.body.items.map((s: { clientId: string; filter: string }) => `${s.clientId} ${s.filter}`)).toEqual(['a site/#', 'a site/+/temp', 'b $share/workers/jobs/#']);
    expect((await api.get('/api/v1/subscriptions?clientId=b')).body.items).toMatchObject([{ group: 'workers', qos: 2 }]);
    expect((await api.get('/api/v1/subscriptions?matching=site/kitchen/temp')).body.total).toBe(2);
    expect((await api.get('/api/v1/subscriptions?matching=site/kitchen')).body.items).toMatchObject([{ filter: 'site/#' }]);
    expect((await api.get('/api/v1/subscriptions?matching=jobs/7')).body.items).toMatchObject([{ clientId: 'b' }]);
    expect((await api.get('/api/v1/subscriptions?qos=1')).body.items).toMatchObject([{ filter: 'site/+/temp' }]);
    expect((await api.get('/api/v1/subscriptions?group=workers')).body.total).toBe(1);
    expect((await api.get(`/api/v1/subscriptions?filter=${encodeURIComponent('site/#')}`)).body.total).toBe(1);
    expect((await api.get('/api/v1/subscriptions?qos=3')).status).toBe(400);
    expect((await api.get('/api/v1/subscriptions?limit=1&offset=2')).body).toMatchObject({ total: 3, items: [{ clientId: 'b' }] });
  });

  it('retained: browse by filter with paging, read one whole, delete one (from the store too)', async () => {
    const api = await withAdmin({ store: 'level' });
    const pub = await api.t.client({ protocolVersion: 5 });
    await pub.publishAsync('site/room-1/setpoint', '21', { qos: 1, retain: true, properties: { contentType: 'text/plain' } });
    await pub.publishAsync('site/room-2/setpoint', '22', { qos: 1, retain: true });
    await pub.publishAsync('site/room-2/blob', Buffer.from([0xff, 0x00, 0xfe]), { qos: 0, retain: true });
    await pub.publishAsync('other/big', 'x'.repeat(3000), { qos: 1, retain: true });
    await until(() => api.t.broker.retainedCount === 4, 'four retained');

    const site = await api.get(`/api/v1/retained?filter=${encodeURIComponent('site/#')}`);
    expect(site.body.items.map((m: { topic: string }) => m.topic)).toEqual(['site/room-1/setpoint', 'site/room-2/blob', 'site/room-2/setpoint']);
    expect(site.body.items[0]).toMatchObject({ payload: '21', encoding: 'utf8', size: 2, qos: 1, contentType: 'text/plain', truncated: false });
    expect(site.body.items[1]).toMatchObject({ payload: Buffer.from([0xff, 0x00, 0xfe]).toString('base64'), encoding: 'base64' });
    expect((await api.get(`/api/v1/retained?filter=${encodeURIComponent('+/+/setpoint')}&limit=1`)).body).toMatchObject({ total: 2, items: [{ topic: 'site/room-1/setpoint' }] });
    const listed = (await api.get('/api/v1/retained')).body; // filter defaults to #
    expect(listed.total).toBe(4);
    expect(listed.items[0]).toMatchObject({ topic: 'other/big', size: 3000, truncated: true });
    expect(listed.items[0].payload).toHaveLength(1024);
    expect((await api.get(`/api/v1/retained?filter=${encodeURIComponent('a/#/b')}`)).status).toBe(400);

    const whole = await api.get('/api/v1/retained/message?topic=other/big');
    expect(whole.body).toMatchObject({ topic: 'other/big', size: 3000, truncated: false });
    expect(whole.body.payload).toHaveLength(3000);
    expect((await api.get('/api/v1/retained/message?topic=no/such')).status).toBe(404);

    expect((await api.send('DELETE', '/api/v1/retained/message?topic=site/room-1/setpoint')).status).toBe(204);
    expect((await api.send('DELETE', '/api/v1/retained/message?topic=site/room-1/setpoint')).status).toBe(404);
    expect(api.t.broker.retainedCount).toBe(3);
    const sub = await api.t.client();
    const got = collect(sub);
    await sub.subscribeAsync('site/+/setpoint');
    await got.waitFor(1);
    await new Promise((r) => setTimeout(r, 100));
    expect(got.messages.map((m) => m.topic)).toEqual(['site/room-2/setpoint']);
  });

  it('publish: a subscriber gets it with its properties; retain sets the retained message; bad input is 400', async () => {
    const api = await withAdmin();
    const sub = await api.t.client({ protocolVersion: 5 });
    await sub.subscribeAsync('ops/#', { qos: 1 });
    const got = collect(sub);
    const ok = await api.send('POST', '/api/v1/publish', { topic: 'ops/notice', payload: 'maintenance at 10', qos: 1, contentType: 'text/plain', userProperties: { by: 'ops' } });
    expect(ok.status).toBe(204);
    await api.send('POST', '/api/v1/publish', { topic: 'ops/raw', payload: Buffer.from([1, 2, 3]).toString('base64'), encoding: 'base64', retain: true });
    await got.waitFor(2);
    expect(got.messages[0]).toMatchObject({ topic: 'ops/notice', payload: 'maintenance at 10', packet: { qos: 1 } });
    expect(got.messages[0]?.packet.properties).toMatchObject({ contentType: 'text/plain', userProperties: { by: 'ops' } });
    expect([...(got.messages[1]?.packet.payload as Buffer)]).toEqual([1, 2, 3]);
    expect((await api.get('/api/v1/retained/message?topic=ops/raw')).body).toMatchObject({ encoding: 'base64', payload: 'AQID' });
    for (const bad of [{ topic: 'a/+' }, { topic: 'a', qos: 3 }, { topic: 'a', colour: 'red' }, { payload: 'no topic' }, { topic: 'a', payload: '%%%', encoding: 'base64' }, { topic: '$SYS/x' }]) {
      const res = await api.send('POST', '/api/v1/publish', bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(res.body.error).toBe('bad-request');
    }
    const notJson = await fetch(`${api.base}/api/v1/publish`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: api.auth }, body: '{' });
    expect(notJson.status).toBe(400);
  });

  it('reload rereads the password file; a broken file is 422 and the previous users stay', async () => {
    const dir = tempDir();
    const passwords = path.join(dir, 'passwd');
    const run = async (args: string[], input: string) => (await runCommand(process.execPath, [MAIN, 'passwd', ...args], input)).code;
    expect(await run([passwords, 'old', '--stdin'], 'pw1\n')).toBe(0);
    const api = await withAdmin({ passwordFile: passwords });
    await expect(api.t.client({ username: 'new', password: 'pw2', reconnectPeriod: 0 })).rejects.toThrow();
    expect(await run([passwords, 'new', '--stdin'], 'pw2\n')).toBe(0);
    expect((await api.send('POST', '/api/v1/reload')).status).toBe(204);
    await api.t.client({ username: 'new', password: 'pw2' });
    writeFileSync(passwords, 'garbage line\n');
    const broken = await api.send('POST', '/api/v1/reload');
    expect(broken.status).toBe(422);
    expect(broken.body.message).toContain(`${passwords}:1`);
    await api.t.client({ username: 'new', password: 'pw2' });
  });

  it('other methods on known paths are 405, unknown paths 404', async () => {
    const api = await withAdmin();
    expect((await api.send('PUT', '/api/v1/clients')).status).toBe(405);
    expect((await api.send('DELETE', '/api/v1/clients/x')).status).toBe(405);
    expect((await api.get('/api/v1/nothing')).status).toBe(404);
    expect(await api.get(`/api/v1/clients/${'a'.repeat(9000)}`)).toEqual({ status: 400, body: { error: 'bad-request', message: 'a path parameter is too long' } });
    expect(await api.get('/api/v1/clients/%E0%A4%A')).toEqual({ status: 400, body: { error: 'bad-request', message: 'malformed URL' } });
  });
});

describe('OpenAPI document', () => {
  it('docs/admin-api.yaml is the one generated from the routes (npm run openapi), and is served at /api/v1/openapi.json', async () => {
    const committed = readFileSync(fileURLToPath(new URL('../../docs/admin-api.yaml', import.meta.url)), 'utf8');
    const version = (await import('../../src/package.js')).packageVersion();
    expect(committed, 'docs/admin-api.yaml is stale: run npm run openapi').toBe(openApiYaml(version));
    const api = await start();
    const served = (await api.get('/api/v1/openapi.json')).body as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
    expect(served).toEqual(parse(committed));
    // Every documented operation exists: an unauthenticated call gets its real answer, never 404 from the router
    for (const [url, ops] of Object.entries(served.paths)) {
      for (const method of Object.keys(ops)) {
        const concrete = url.replace('{clientId}', 'nobody');
        const res = await fetch(api.base + concrete, { method: method.toUpperCase() });
        expect(res.status === 404 && (await res.text()) === 'not found\n', `${method} ${url}`).toBe(false);
      }
    }
  });
});
