import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { BenchReport } from '../../src/loadgen/report.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';

const MAIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
/** Longest a `midge bench` run of ~1 s may take, connecting and draining included. */
const RUN_TIMEOUT_MS = 15_000;

/** What one `midge bench` process printed and how it ended. */
interface BenchOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI's `midge bench` with `args`; kills it after RUN_TIMEOUT_MS. */
function bench(...args: string[]): Promise<BenchOutcome> {
  const child = spawn(process.execPath, [MAIN, 'bench', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  return new Promise((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a short scenario with --json and returns the parsed report. */
async function benchJson(url: string, scenario: string, ...extra: string[]): Promise<{ code: number | null; report: BenchReport }> {
  const outcome = await bench('--url', url, '--scenario', scenario, '--duration', '1', '--warmup', '0', '--json', ...extra);
  expect(outcome.stderr, 'no progress or errors on a non-TTY stderr').toBe('');
  return { code: outcome.code, report: JSON.parse(outcome.stdout) as BenchReport };
}

/** Asserts a throughput report with messages flowing and nothing lost, duplicated or reordered. */
function expectClean(report: BenchReport): void {
  expect(report.passed, report.problems.join('; ')).toBe(true);
  expect(report.metrics.rate).toBeGreaterThan(0);
  expect(report.metrics.counts).toMatchObject({ lost: 0, duplicated: 0, reordered: 0, unexpected: 0 });
  expect(report.metrics.counts?.received).toBeGreaterThan(0);
}

beforeAll(() => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first (npm test does this)`);
});

describe('midge bench against Midge', () => {
  let t: TestBroker;
  beforeAll(async () => {
    t = await startBroker();
  });
  afterAll(async () => {
    await t.close();
  });

  it('fanin-qos1 over TCP: JSON with a positive rate, 0 lost, exit 0', async () => {
    const { code, report } = await benchJson(t.url, 'fanin-qos1');
    expectClean(report);
    expect(report).toMatchObject({ scenario: 'fanin-qos1', url: t.url, settings: { publishers: 10, subscribers: 1 } });
    expect(report.metrics.perPublisher).toHaveLength(10);
    expect(code).toBe(0);
  });

  it('fanin-qos2 over WebSocket', async () => {
    const { code, report } = await benchJson(t.wsUrl, 'fanin-qos2', '--publishers', '3');
    expectClean(report);
    expect(report.url).toBe(t.wsUrl);
    expect(code).toBe(0);
  });

  it('connections: opens and holds every connection, reports the connect rate', async () => {
    const { code, report } = await benchJson(t.url, 'connections', '--connections', '300', '--duration', '0.5');
    expect(report.passed, report.problems.join('; ')).toBe(true);
    expect(report.metrics.unit).toBe('connections/s');
    expect(report.metrics.rate).toBeGreaterThan(0);
    expect(report.metrics.extra).toMatchObject({ connections: 300, opened: 300, stillOpen: 300 });
    expect(report.metrics.connectFailures).toBe(0);
    expect(code).toBe(0);
  });

  it('prints a summary table ending in PASSED without --json', async () => {
    const outcome = await bench('--url', t.url, '--scenario', 'latency', '--duration', '0.5', '--warmup', '0');
    expect(outcome.stdout).toMatch(/^broker +mqtt:\/\/127\.0\.0\.1:\d+$/m);
    expect(outcome.stdout).toMatch(/^latency +p50 [\d.]+ ms, p99 [\d.]+ ms/m);
    expect(outcome.stdout).toMatch(/^lost +0$/m);
    expect(outcome.stdout.trimEnd()).toMatch(/PASSED$/);
    expect(outcome.code).toBe(0);
  });
});

describe('midge bench detects loss', () => {
  let t: TestBroker;
  beforeAll(async () => {
    // A subscriber queue far smaller than the 1000 messages the publishers keep in flight: the
    // broker drops QoS 1 messages by its overflow policy, and the bench must see each one missing.
    t = await startBroker({ maxInflight: 5, maxQueuedMessages: 20, queueOverflow: 'drop-new' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('reports lost QoS 1 messages per publisher and exits 1', async () => {
    const { code, report } = await benchJson(t.url, 'fanin-qos1');
    expect(report.passed).toBe(false);
    expect(report.metrics.counts?.lost).toBeGreaterThan(0);
    expect(report.problems[0]).toMatch(/message\(s\) lost at QoS 1/);
    expect(code).toBe(1);
  });
});

describe('midge bench command line', () => {
  it('exits 2 with a one-line message for a bad flag', async () => {
    const outcome = await bench('--scenario', 'nope');
    expect(outcome.code).toBe(2);
    expect(outcome.stderr).toMatch(/^midge bench: --scenario: unknown "nope"; known: .+\n$/);
  });

  it('exits 1 with a one-line message when the broker cannot be reached', async () => {
    const port = await freePort();
    const outcome = await bench('--url', `mqtt://127.0.0.1:${port}`, '--duration', '0.5');
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toMatch(/^midge bench: fanin-qos1 against mqtt:\/\/127\.0\.0\.1:\d+ failed: .*ECONNREFUSED/);
  });
});

/** Mosquitto from PATH, or where Debian puts it (/usr/sbin is not on every user's PATH). */
const MOSQUITTO = ['mosquitto', '/usr/sbin/mosquitto'].find((bin) => spawnSync(bin, ['-h'], { stdio: 'ignore' }).error === undefined);
const hasMosquitto = MOSQUITTO !== undefined;
const hasOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).error === undefined;
if (!hasOpenssl) console.warn('SKIPPED: midge bench over TLS: openssl is not installed to make test certificates');

describe.skipIf(!hasOpenssl)('midge bench over TLS (mqtts://, wss://)', () => {
  let t: TestBroker;
  let dir: string;
  let tlsServer: tls.Server;
  let httpsServer: https.Server;
  beforeAll(async () => {
    t = await startBroker();
    dir = mkdtempSync(path.join(tmpdir(), 'midge-bench-tls-'));
    const script = fileURLToPath(new URL('../../certs/gen-dev-certs.sh', import.meta.url));
    const made = spawnSync('bash', [script, dir], { stdio: 'ignore', timeout: 15_000 });
    if (made.status !== 0) throw new Error('certs/gen-dev-certs.sh failed');
    const credentials = { key: readFileSync(path.join(dir, 'server.key')), cert: readFileSync(path.join(dir, 'server.crt')) };
    // TLS terminated in front of the broker, which takes any Duplex (Broker.handle).
    tlsServer = tls.createServer(credentials, (socket) => t.broker.handle(socket, 'tls'));
    httpsServer = https.createServer(credentials);
    const wss = new WebSocketServer({ server: httpsServer, handleProtocols: () => 'mqtt' });
    wss.on('connection', (ws) => t.broker.handle(createWebSocketStream(ws), 'wss'));
    await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => httpsServer.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    httpsServer.closeAllConnections();
    await Promise.all([tlsServer, httpsServer].map((s) => new Promise((resolve) => s.close(resolve))));
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const portOf = (server: net.Server): number => (server.address() as net.AddressInfo).port;

  it('mqtts:// with --ca trusting the broker’s CA', async () => {
    const url = `mqtts://127.0.0.1:${portOf(tlsServer)}`;
    const { code, report } = await benchJson(url, 'fanin-qos1', '--publishers', '2', '--ca', path.join(dir, 'ca.crt'));
    expectClean(report);
    expect(report.url).toBe(url);
    expect(code).toBe(0);
  });

  it('mqtts:// refuses a certificate it cannot verify, with a one-line message and exit 1', async () => {
    const outcome = await bench('--url', `mqtts://127.0.0.1:${portOf(tlsServer)}`, '--duration', '0.5');
    expect(outcome.code).toBe(1);
    expect(outcome.stderr).toMatch(/^midge bench: fanin-qos1 against mqtts:.* failed: .*certificate/);
  });

  it('wss:// with --insecure', async () => {
    const { code, report } = await benchJson(`wss://127.0.0.1:${portOf(httpsServer)}/mqtt`, 'fanin-qos0', '--publishers', '2', '--insecure');
    expectClean(report);
    expect(code).toBe(0);
  });
});
if (!hasMosquitto) console.warn('SKIPPED: midge bench against Mosquitto: mosquitto is not installed (apt-get install mosquitto)');

describe.skipIf(!hasMosquitto)('midge bench against Mosquitto', () => {
  let dir: string;
  let mosquitto: ChildProcess;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    dir = mkdtempSync(path.join(tmpdir(), 'midge-bench-mosquitto-'));
    const config = path.join(dir, 'mosquitto.conf');
    // max_inflight_messages 0: mosquitto 2.0.11 stops draining its queue once its default window
    // of 20 fills, and then drops QoS 1/2 messages (midge bench reports them as lost).
    writeFileSync(config, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\n`);
    mosquitto = spawn(MOSQUITTO ?? 'mosquitto', ['-c', config], { stdio: 'ignore' });
    await waitForPort(port);
  });
  afterAll(() => {
    mosquitto.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('fanin-qos1: JSON with a positive rate, 0 lost, exit 0', async () => {
    const { code, report } = await benchJson(`mqtt://127.0.0.1:${port}`, 'fanin-qos1');
    expectClean(report);
    expect(code).toBe(0);
  });
});

/** A port that was free on 127.0.0.1 a moment ago. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves once 127.0.0.1:port accepts connections; rejects after 5 s. */
async function waitForPort(port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`mosquitto did not listen on ${port} within 5 s`);
}
