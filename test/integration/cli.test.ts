import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { collect, nextDisconnect } from '../helpers/broker.js';

const MAIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

interface Run {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];
const clients: MqttClient[] = [];
const servers: net.Server[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

beforeAll(() => {
  if (!existsSync(MAIN)) {
    throw new Error(`${MAIN} is missing: build first with \`npx tsc -p tsconfig.json\` (npm test does this)`);
  }
});

function midge(...args: string[]): Run {
  // Each run gets its own working directory, so the default ./data store stays out of the tree
  const cwd = mkdtempSync(path.join(tmpdir(), 'midge-cli-'));
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd });
  children.push(child);
  const run: Run = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
  };
  child.stdout?.on('data', (d: Buffer) => (run.stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (run.stderr += d.toString()));
  return run;
}

/** Waits for the JSON log line with msg 'midge listening' and returns it parsed. */
async function listening(run: Run, timeoutMs = 5000): Promise<{ tcp?: { port: number }; ws?: { port: number } }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const line of run.stdout.split('\n')) {
      if (!line.includes('midge listening')) continue;
      const entry = JSON.parse(line) as { msg: string; tcp?: { port: number }; ws?: { port: number } };
      if (entry.msg === 'midge listening') return entry;
    }
    if (run.child.exitCode !== null) throw new Error(`midge exited (${run.child.exitCode}): ${run.stderr}`);
    if (Date.now() > deadline) throw new Error(`no 'midge listening' log line; stdout: ${run.stdout} stderr: ${run.stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function expectOneLineError(run: Run): void {
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^midge: /);
  expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

describe('midge CLI', () => {
  it('--port 0 --ws-port -1 logs the bound port as JSON and serves MQTT there', async () => {
    const run = midge('--host', '127.0.0.1', '--port', '0', '--ws-port', '-1', '--http-port', '-1');
    const entry = await listening(run);
    expect(entry.tcp?.port).toBeGreaterThan(0);
    expect(entry.ws).toBeUndefined();
    const url = `mqtt://127.0.0.1:${entry.tcp?.port}`;
    const sub = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
    clients.push(sub);
    await sub.subscribeAsync('cli/t', { qos: 1 });
    const got = collect(sub);
    await sub.publishAsync('cli/t', 'through the binary', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages[0]).toMatchObject({ topic: 'cli/t', payload: 'through the binary' });
  });

  it('SIGTERM: a connected 5.0 client gets DISCONNECT 0x8B and the process exits 0', async () => {
    const run = midge('--host', '127.0.0.1', '--port', '0', '--ws-port', '-1', '--http-port', '-1');
    const entry = await listening(run);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${entry.tcp?.port}`, { protocolVersion: 5, reconnectPeriod: 0 });
    clients.push(client);
    const disconnect = nextDisconnect(client);
    run.child.kill('SIGTERM');
    expect((await disconnect).reasonCode).toBe(0x8b);
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.stderr).toBe('');
  });

  it('a bad flag prints one line on stderr, no stack trace, and exits non-zero', async () => {
    const run = midge('--no-such-flag');
    const { code } = await run.exited;
    expect(code).not.toBe(0);
    expectOneLineError(run);
    expect(run.stderr).toContain('--no-such-flag');
  });

  it('a bad flag value prints one line on stderr and exits non-zero', async () => {
    const run = midge('--port', 'eighty');
    const { code } = await run.exited;
    expect(code).not.toBe(0);
    expectOneLineError(run);
    expect(run.stderr).toContain('--port');
  });

  it('a port already in use prints one line on stderr and exits non-zero', async () => {
    const blocker = net.createServer();
    servers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    const run = midge('--host', '127.0.0.1', '--port', String(port), '--ws-port', '-1', '--http-port', '-1');
    const { code } = await run.exited;
    expect(code).not.toBe(0);
    expectOneLineError(run);
    expect(run.stderr).toMatch(/in use/i);
  });

  it('--scram-users with a file that cannot be read prints one line naming it and exits non-zero', async () => {
    const run = midge('--scram-users', '/nonexistent/scram-users', '--port', '0', '--ws-port', '-1', '--http-port', '-1', '--store', 'memory');
    const { code } = await run.exited;
    expect(code).not.toBe(0);
    expectOneLineError(run);
    expect(run.stderr).toContain('/nonexistent/scram-users');
  });

  it('--help prints the usage and exits 0', async () => {
    const run = midge('--help');
    expect((await run.exited).code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: midge/);
  });
});
