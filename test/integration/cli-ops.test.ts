import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { parse as parseYaml } from 'yaml';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { collect } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';

const MAIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

interface Run {
  readonly child: ChildProcess;
  readonly cwd: string;
  stdout: string;
  stderr: string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];
const clients: MqttClient[] = [];
const raws: Wire[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  for (const raw of raws.splice(0)) raw.socket.destroy();
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

beforeAll(() => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first (npm test does this)`);
});

function midge(args: string[], env: Record<string, string> = {}, cwd = mkdtempSync(path.join(tmpdir(), 'midge-cli-ops-'))): Run {
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd, env: { PATH: process.env.PATH ?? '', ...env } });
  children.push(child);
  const run: Run = {
    child,
    cwd,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal }))),
  };
  child.stdout?.on('data', (d: Buffer) => (run.stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (run.stderr += d.toString()));
  return run;
}

/** Waits for a stdout line containing `text`. */
async function line(run: Run, text: string, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = run.stdout.split('\n').find((l) => l.includes(text));
    if (found) return found;
    if (run.child.exitCode !== null) throw new Error(`midge exited (${run.child.exitCode}): ${run.stderr}`);
    if (Date.now() > deadline) throw new Error(`no "${text}" line; stdout: ${run.stdout} stderr: ${run.stderr}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const LOOPBACK = ['--host', '127.0.0.1', '--port', '0', '--ws-port', '-1'];

describe('midge configuration from the command line', () => {
  it('--print-config shows file < env < flags, and exits 0', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'midge-cli-ops-'));
    const file = path.join(dir, 'midge.yaml');
    writeFileSync(file, 'port: 1000\nwsPort: 1001\nhttpPort: 1002\nlogFormat: text\n');
    const run = midge(['--config', file, '--http-port', '3002', '--print-config'], { MIDGE_WS_PORT: '2001', MIDGE_HTTP_PORT: '2002' });
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(parseYaml(run.stdout)).toMatchObject({ port: 1000, wsPort: 2001, httpPort: 3002, logFormat: 'text', dataDir: './data' });
  });

  it('a bad value in the environment stops midge with one line', async () => {
    const run = midge(['--print-config'], { MIDGE_DURABILITY: 'sometimes' });
    expect((await run.exited).code).toBe(2);
    expect(run.stderr).toBe('midge: invalid option: MIDGE_DURABILITY: expected fsync|batch|none, found "sometimes"\n');
  });

  it('runs from a YAML file given in MIDGE_CONFIG, with text logs and the HTTP listener on a free port', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'midge-cli-ops-'));
    const file = path.join(dir, 'midge.yaml');
    writeFileSync(file, 'host: 127.0.0.1\nport: 0\nwsPort: -1\nhttpPort: 0\nlogFormat: text\nstore: memory\n');
    const run = midge([], { MIDGE_CONFIG: file });
    const listening = await line(run, 'midge listening');
    expect(listening).toMatch(/^\[\d{4}-\d\d-\d\d [\d:.]+\] INFO: midge listening /);
    expect(listening).toContain(`"config":"${file}"`);
    const port = /"http":\{[^}]*"port":(\d+)/.exec(listening)?.[1];
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(0);
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM flushes and closes the store: a retained QoS 1 message survives the restart', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'midge-cli-ops-data-'));
    const args = [...LOOPBACK, '--http-port', '-1', '--data-dir', dataDir, '--durability', 'none'];
    const first = midge(args);
    const port = Number(/"port":(\d+)/.exec(await line(first, 'midge listening'))?.[1]);
    const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
    clients.push(pub);
    await pub.publishAsync('kept/t', 'survives', { qos: 1, retain: true });
    first.child.kill('SIGTERM');
    expect(await first.exited).toEqual({ code: 0, signal: null });
    expect(first.stdout).toContain('midge stopped');

    const second = midge(args);
    const port2 = Number(/"port":(\d+)/.exec(await line(second, 'midge listening'))?.[1]);
    const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port2}`, { reconnectPeriod: 0 });
    clients.push(sub);
    const got = collect(sub);
    await sub.subscribeAsync('kept/#', { qos: 1 });
    await got.waitFor(1);
    expect(got.messages[0]).toMatchObject({ topic: 'kept/t', payload: 'survives' });
  });

  it('a second signal during the shutdown forces exit 1', async () => {
    const run = midge([...LOOPBACK, '--http-port', '-1', '--store', 'memory']);
    const port = Number(/"port":(\d+)/.exec(await line(run, 'midge listening'))?.[1]);
    // An MQTT 5 client that reads nothing more (not even the DISCONNECT) holds the shutdown open for about 1 s
    const raw = await Wire.open(port, 5);
    raws.push(raw);
    await raw.handshake();
    raw.socket.pause();
    run.child.kill('SIGTERM');
    await line(run, '"msg":"stopping"');
    run.child.kill('SIGINT');
    expect(await run.exited).toEqual({ code: 1, signal: null });
    expect(run.stdout).toContain('second signal: forced exit');
    expect(run.stdout).not.toContain('midge stopped');
  });

  it('a shutdown longer than shutdownTimeout exits 1 when the time is up', async () => {
    const run = midge([...LOOPBACK, '--http-port', '-1', '--store', 'memory'], { MIDGE_SHUTDOWN_TIMEOUT: '200' });
    const port = Number(/"port":(\d+)/.exec(await line(run, 'midge listening'))?.[1]);
    const raw = await Wire.open(port, 5);
    raws.push(raw);
    await raw.handshake();
    raw.socket.pause();
    const started = Date.now();
    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 1, signal: null });
    expect(Date.now() - started).toBeLessThan(900); // well before the socket's own 1 s close deadline
    expect(run.stdout).toContain('shutdown took too long: forced exit');
  });
});
