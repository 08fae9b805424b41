import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { credentialsPath, CredentialStore, emptyCredentials, hashAdminPassword, newToken, tokenDigest, writeCredentials } from '../../src/auth/admin-credentials.js';
import { topicMatches } from '../../src/broker/admin.js';
import { Access, isLoopback } from '../../src/http/access.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function storeWith(tokens: { name: string; role: 'admin' | 'read'; token: string }[]): CredentialStore {
  const dir = mkdtempSync(path.join(tmpdir(), 'midge-access-'));
  dirs.push(dir);
  const file = credentialsPath(dir);
  writeCredentials(file, { ...emptyCredentials(), tokens: tokens.map((t) => ({ name: t.name, role: t.role, sha256: tokenDigest(t.token), created: '' })) });
  return new CredentialStore(file, (err) => {
    throw err;
  });
}

describe('HTTP access rules', () => {
  it('loopback addresses: 127/8, ::1 and IPv4-mapped; nothing else', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1']) expect(isLoopback(a), a).toBe(true);
    for (const a of ['10.0.0.5', '::ffff:192.168.1.2', 'fe80::1', '128.0.0.1', undefined]) expect(isLoopback(a), String(a)).toBe(false);
  });

  it('with no admin configured the API answers loopback only, read-only', async () => {
    const access = new Access(storeWith([]), false);
    expect(await access.check('read', undefined, '127.0.0.1')).toMatchObject({ kind: 'anonymous', role: 'read' });
    expect(await access.check('read', undefined, '10.0.0.5')).toMatchObject({ status: 403, error: 'loopback-only' });
    expect(await access.check('admin', undefined, '127.0.0.1')).toMatchObject({ status: 403, error: 'forbidden' });
    expect(await access.check('open', undefined, '10.0.0.5')).toBeUndefined();
    expect(await access.check('metrics', undefined, '10.0.0.5')).toBeUndefined();
    // metricsAuth with nobody to authenticate: loopback only, like the API
    const protectedMetrics = new Access(storeWith([]), true);
    expect(await protectedMetrics.check('metrics', undefined, '10.0.0.5')).toMatchObject({ status: 403, error: 'loopback-only' });
    expect(await protectedMetrics.check('metrics', undefined, '127.0.0.1')).toMatchObject({ kind: 'anonymous' });
    const readers = new Access(storeWith([{ name: 'r', role: 'read', token: 'midge_r' }]), false);
    expect(await readers.check('read', 'Bearer midge_r', '10.0.0.5')).toMatchObject({ status: 403, error: 'loopback-only' });
    expect(await readers.check('read', undefined, '127.0.0.1')).toMatchObject({ status: 401 });
    expect(await readers.check('read', 'Bearer midge_r', '127.0.0.1')).toMatchObject({ name: 'r', role: 'read' });
  });

  it('with an admin, remote clients with a credential are served; read tokens cannot act', async () => {
    const admin = newToken();
    const access = new Access(storeWith([{ name: 'ops', role: 'admin', token: admin }, { name: 'ro', role: 'read', token: 'midge_ro' }]), true);
    expect(await access.check('admin', `Bearer ${admin}`, '10.0.0.5')).toMatchObject({ name: 'ops', role: 'admin' });
    expect(await access.check('admin', 'Bearer midge_ro', '10.0.0.5')).toMatchObject({ status: 403, message: 'ro has the read role' });
    expect(await access.check('read', undefined, '10.0.0.5')).toMatchObject({ status: 401 });
    expect(await access.check('metrics', undefined, '10.0.0.5')).toMatchObject({ status: 401 });
    expect(await access.check('metrics', 'Bearer midge_ro', '10.0.0.5')).toMatchObject({ name: 'ro' });
  });

  it('20 failed attempts from one address in a minute make it wait (429); others are not affected', async () => {
    const access = new Access(storeWith([{ name: 'ops', role: 'admin', token: 'midge_ok' }]), false);
    for (let i = 0; i < 20; i++) expect(await access.check('read', 'Bearer nope', '10.0.0.9')).toMatchObject({ status: 401 });
    expect(await access.check('read', 'Bearer midge_ok', '10.0.0.9')).toMatchObject({ status: 429 });
    expect(await access.check('read', 'Bearer midge_ok', '10.0.0.8')).toMatchObject({ name: 'ops' });
  });
});

describe('password checks', () => {
  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  it('at most 4 scrypt checks run at once; the others are refused with 429 at once', async () => {
    const store = storeWith([]);
    writeCredentials(store.file, { ...emptyCredentials(), users: [{ name: 'alice', role: 'admin', password: await hashAdminPassword('right'), created: '' }] });
    store.reload();
    const access = new Access(store, false);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => access.check('read', basic('alice', 'wrong'), `10.0.1.${i}`)));
    const statuses = answers.map((a) => (a && 'status' in a ? a.status : 200));
    expect(statuses.filter((s) => s === 401)).toHaveLength(4);
    expect(statuses.filter((s) => s === 429)).toHaveLength(6);
    expect(await access.check('read', basic('alice', 'right'), '10.0.1.99')).toMatchObject({ name: 'alice', kind: 'user' });
  });

  it('a verified Basic header is remembered only while the credentials stay the same', async () => {
    const store = storeWith([]);
    writeCredentials(store.file, { ...emptyCredentials(), users: [{ name: 'alice', role: 'admin', password: await hashAdminPassword('right'), created: '' }] });
    store.reload();
    const access = new Access(store, false);
    expect(await access.check('admin', basic('alice', 'right'), '127.0.0.1')).toMatchObject({ name: 'alice' });
    expect(await access.check('admin', basic('alice', 'right'), '127.0.0.1')).toMatchObject({ name: 'alice' });
    writeCredentials(store.file, { ...emptyCredentials(), users: [{ name: 'alice', role: 'admin', password: await hashAdminPassword('changed'), created: '' }] });
    store.reload();
    expect(await access.check('admin', basic('alice', 'right'), '127.0.0.1')).toMatchObject({ status: 401 });
  });
});

describe('topicMatches (subscription search)', () => {
  it('follows MQTT 4.7: + one level, # the rest (and the parent), $ topics not matched by leading wildcards', () => {
    expect(topicMatches('a/+/c', 'a/b/c')).toBe(true);
    expect(topicMatches('a/+/c', 'a/b/d')).toBe(false);
    expect(topicMatches('a/#', 'a')).toBe(true);
    expect(topicMatches('a/#', 'a/b/c')).toBe(true);
    expect(topicMatches('a/b', 'a/b/c')).toBe(false);
    expect(topicMatches('#', '$SYS/x')).toBe(false);
    expect(topicMatches('+/x', '$SYS/x')).toBe(false);
    expect(topicMatches('$SYS/#', '$SYS/x')).toBe(true);
    expect(topicMatches('+', '')).toBe(true);
  });
});
