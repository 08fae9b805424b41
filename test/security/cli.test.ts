import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password-file.js';
import { until } from '../helpers/broker.js';
import { hasOpenssl, makeCerts } from '../helpers/certs.js';

const MAIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
let dir: string;
const children: ChildProcess[] = [];
const clients: MqttClient[] = [];
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'midge-sec-cli-'));
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function run(args: string[]): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [MAIN, '--host', '127.0.0.1', '--port', '0', '--ws-port', '-1', '--http-port', '-1', '--store', 'memory', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return { child, out: () => out, exited: new Promise((resolve) => child.on('exit', resolve)) };
}

async function ports(out: () => string): Promise<{ tcp?: { port: number }; tls?: { port: number } }> {
  await until(() => out().includes('midge listening'), 'midge listening', 10_000);
  const line = out().split('\n').find((l) => l.includes('midge listening')) as string;
  return JSON.parse(line) as { tcp?: { port: number }; tls?: { port: number } };
}

async function connect(port: number, username: string, password: string): Promise<MqttClient | Error> {
  try {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { username, password, reconnectPeriod: 0, protocolVersion: 5, connectTimeout: 5000 });
    clients.push(c);
    return c;
  } catch (err) {
    return err as Error;
  }
}

describe('security from the command line', () => {
  it('SIGHUP reloads the password and ACL files without dropping connections; a bad file keeps the old rules', async () => {
    const passwords = path.join(dir, 'passwords');
    const acl = path.join(dir, 'acl');
    writeFileSync(passwords, `alice:${await hashPassword(Buffer.from('a'))}\n`);
    writeFileSync(acl, 'topic readwrite #\n');
    const m = run(['--password-file', passwords, '--acl-file', acl]);
    const port = (await ports(m.out)).tcp?.port ?? 0;
    const alice = (await connect(port, 'alice', 'a')) as MqttClient;
    expect(alice.connected).toBe(true);
    writeFileSync(passwords, `alice:${await hashPassword(Buffer.from('a'))}\nbob:${await hashPassword(Buffer.from('b'))}\n`);
    m.child.kill('SIGHUP');
    await until(() => m.out().includes('security files reloaded'), 'reload logged', 5000);
    expect((await connect(port, 'bob', 'b')) instanceof Error).toBe(false);
    expect(alice.connected).toBe(true);
    writeFileSync(acl, 'topic maybe #\n');
    m.child.kill('SIGHUP');
    await until(() => m.out().includes('reload failed, previous rules kept'), 'failed reload logged', 5000);
    expect(m.out()).toContain(`${acl}:1: unknown access`);
    expect((await connect(port, 'bob', 'b')) instanceof Error).toBe(false);
    expect(m.child.exitCode).toBeNull();
  });

  it('a bad ACL line, a missing password file or a mismatched TLS key stop the start with one line naming the file', async () => {
    const acl = path.join(dir, 'acl');
    writeFileSync(acl, 'user a\ntopic read a/#/b\n');
    const bad = run(['--acl-file', acl]);
    expect(await bad.exited).toBe(1);
    expect(bad.out()).toBe(`midge: invalid security file: ${acl}:2: invalid topic filter "a/#/b"\n`);
    const missing = run(['--password-file', path.join(dir, 'nope')]);
    expect(await missing.exited).toBe(1);
    expect(missing.out()).toMatch(/^midge: invalid security file: cannot read password file .*nope: ENOENT\n$/);
    if (!hasOpenssl) return;
    const certs = makeCerts();
    try {
      const tls = run(['--cert', certs.file('server.crt'), '--key', certs.file('client.key'), '--tls-port', '0', '--wss-port', '-1']);
      expect(await tls.exited).toBe(1);
      expect(tls.out()).toMatch(/^midge: invalid TLS configuration: .*does not belong to the certificate .*server.crt\)$/m);
      const ok = run(['--cert', certs.file('server.crt'), '--key', certs.file('server.key'), '--tls-port', '0', '--wss-port', '-1']);
      expect((await ports(ok.out)).tls?.port).toBeGreaterThan(0);
    } finally {
      certs.remove();
    }
  });

  it('limit flags reach the broker and bad values are usage errors', async () => {
    const m = run(['--max-client-id-length', '30', '--max-connections', '5']);
    const port = (await ports(m.out)).tcp?.port ?? 0;
    const err = await mqtt
      .connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'x'.repeat(31), reconnectPeriod: 0, protocolVersion: 5 })
      .catch((e: unknown) => e as { code?: number });
    expect((err as { code?: number }).code).toBe(0x85);
    const usage = run(['--max-connections', 'many']);
    expect(await usage.exited).toBe(2);
    expect(usage.out()).toBe('midge: invalid option: --max-connections: expected an integer from 0 to 9007199254740991, found "many"\n');
  });
});
