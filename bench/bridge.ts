/**
 * Bridge benchmarks. Run: npm run bench:bridge [-- --duration 3 --repeat 3 --records 20000 --only log,fanin,nats,redis]
 * - log-append: appends/s of the embedded log alone (LevelDB store, fsync and none; memory).
 * - fanin-qos1 with and without a bridge rule matching every message, side by side, on the memory
 *   store and on the durable (fsync) store: the cost of a rule in % of throughput (target <= 25%).
 * - sink throughput: records/s shipped to NATS JetStream and Redis Streams, when installed.
 * Figures are indicative: the machine is shared; compare the rows of one run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createBroker } from '../src/index.js';
import { MemoryBackend } from '../src/bridge/backend.js';
import { Log } from '../src/bridge/log.js';
import { LevelStore } from '../src/store/level.js';
import type { Message } from '../src/broker/message.js';
import { BrokerProcess } from './broker-process.js';
import { brokerSpec, type BrokerSpec } from './brokers.js';
import { clockTicksPerSecond, ProcProbe } from '../src/loadgen/proc.js';
import type { BrokerMode } from './scenario.js';
import { runThroughput } from '../src/loadgen/throughput.js';

const HOST = '127.0.0.1';
const { values } = parseArgs({ options: { duration: { type: 'string' }, records: { type: 'string' }, json: { type: 'string' }, only: { type: 'string' }, repeat: { type: 'string' } } });
const repeat = Number(values.repeat ?? 3);
const only = values.only?.split(',');
const wanted = (part: string) => only === undefined || only.includes(part);
const durationMs = Number(values.duration ?? 3) * 1000;
const records = Number(values.records ?? 20_000);
const results: Record<string, number | string> = {};

function message(i: number, payload: Buffer): Message {
  return { id: i, topic: `sensors/${i % 10}/t`, payload, qos: 1, retain: false, properties: undefined, expiresAt: undefined, origin: 'bench' };
}

/** Appends `count` records, 500 per event-loop turn, and waits for the last commit. */
async function appendRate(log: Log, count: number): Promise<number> {
  const payload = Buffer.alloc(64, 1);
  const started = performance.now();
  for (let i = 0; i < count; i += 500) {
    for (let j = i; j < Math.min(count, i + 500); j++) log.append('s', message(j, payload), Date.now());
    await new Promise((r) => setImmediate(r));
  }
  await log.flush();
  return count / ((performance.now() - started) / 1000);
}

async function logAppend(): Promise<void> {
  const streams = [{ name: 's', maxBytes: 1e12, maxAgeMs: 0 }];
  const memory = new Log(new MemoryBackend(), streams);
  await memory.open();
  results['log-append memory (records/s)'] = Math.round(await appendRate(memory, records));
  for (const durability of ['fsync', 'none'] as const) {
    const dir = mkdtempSync(path.join(tmpdir(), 'midge-bench-log-'));
    const store = new LevelStore(dir, durability);
    await store.open();
    const log = new Log(store.logBackend(), streams);
    await log.open();
    results[`log-append level ${durability} (records/s)`] = Math.round(await appendRate(log, records));
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Midge through its CLI with `--config` holding `bridge` (written in its scratch directory). */
function midgeWithBridge(bridge: unknown): BrokerSpec {
  const base = brokerSpec('midge');
  return {
    ...base,
    launch: (host: string, port: number, workDir: string, mode: BrokerMode) => {
      const command = base.launch(host, port, workDir, mode);
      const config = path.join(workDir, 'bridge.json');
      writeFileSync(config, JSON.stringify({ bridge }));
      return { ...command, args: [...command.args, '--config', config] };
    },
  };
}

async function fanin(spec: BrokerSpec, mode: BrokerMode): Promise<number> {
  const broker = await BrokerProcess.start(spec, HOST, mode);
  try {
    const context = {
      endpoint: { kind: 'tcp' as const, host: HOST, port: broker.port },
      topicRoot: 'bench',
      clientIdPrefix: '',
      probe: new ProcProbe(broker.pid, clockTicksPerSecond()),
      warmupMs: 1000,
      durationMs,
      payloadSize: 64,
    };
    const metrics = await runThroughput({ publishers: 10, subscribers: 1, qos: 1, ackWindow: 100, deliveryWindow: 100 }, context);
    return Math.round(metrics.rate ?? 0);
  } finally {
    await broker.stop();
  }
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

/** Alternates runs without and with the rule `repeat` times (load drifts on a shared machine) and keeps the medians. */
async function faninWithRule(): Promise<void> {
  const rule = { rules: [{ filter: '#', stream: 'all' }] };
  for (const mode of ['memory', 'durable'] as const) {
    const runs: { without: number[]; with: number[] } = { without: [], with: [] };
    for (let i = 0; i < repeat; i++) {
      runs.without.push(await fanin(midgeWithBridge({}), mode));
      runs.with.push(await fanin(midgeWithBridge(rule), mode));
    }
    const without = median(runs.without);
    const withRule = median(runs.with);
    results[`fanin-qos1 ${mode} without rule (msg/s)`] = without;
    results[`fanin-qos1 ${mode} with rule '#' (msg/s)`] = withRule;
    results[`fanin-qos1 ${mode} rule cost (%)`] = Math.round((1 - withRule / without) * 1000) / 10;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, HOST, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => net.connect(port, HOST).once('connect', function (this: net.Socket) { this.destroy(); resolve(true); }).once('error', () => resolve(false)));
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`engine on ${port} did not start`);
}

/** Ships `records` through a sink and reports records/s from the first append to the last acknowledgement. */
async function sinkRate(kind: 'nats' | 'redis'): Promise<void> {
  const binary = kind === 'nats' ? 'nats-server' : 'redis-server';
  if (spawnSync(binary, ['--version'], { stdio: 'ignore' }).status !== 0) {
    results[`sink ${kind}`] = `skipped: ${binary} not installed`;
    return;
  }
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'midge-bench-sink-'));
  const args = kind === 'nats' ? ['-js', '-a', HOST, '-p', String(port), '-sd', dir] : ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'yes', '--dir', dir];
  const engine: ChildProcess = spawn(binary, args, { stdio: 'ignore' });
  const sink = kind === 'nats' ? { type: 'nats', stream: 's', servers: `nats://${HOST}:${port}`, subject: 'bench.s' } : { type: 'redis', stream: 's', url: `redis://${HOST}:${port}`, key: 'bench:s' };
  const broker = createBroker({ port: -1, wsPort: -1, httpPort: -1, logLevel: 'silent', store: 'level', durability: 'none', dataDir: path.join(dir, 'midge'), bridge: { rules: [{ filter: '#', stream: 's' }], sinks: [sink as never] } });
  try {
    await waitForPort(port);
    await broker.start();
    const payload = Buffer.alloc(64, 1);
    const started = performance.now();
    for (let i = 0; i < records; i++) await (i % 500 === 499 ? broker.publish({ topic: 'b', payload, qos: 0 }) : void broker.publish({ topic: 'b', payload, qos: 0 }));
    const deadline = Date.now() + 60_000;
    while ((broker.bridge.status().sinks[0]?.cursor ?? 0) < records && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const shipped = broker.bridge.status().sinks[0]?.cursor ?? 0;
    results[`sink ${kind} (records/s)`] = Math.round(shipped / ((performance.now() - started) / 1000));
  } finally {
    await broker.close();
    engine.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (wanted('log')) await logAppend();
if (wanted('fanin')) await faninWithRule();
if (wanted('nats')) await sinkRate('nats');
if (wanted('redis')) await sinkRate('redis');
for (const [key, value] of Object.entries(results)) console.log(`${key.padEnd(48)} ${value}`);
if (values.json) writeFileSync(values.json, `${JSON.stringify({ date: new Date().toISOString(), durationMs, records, results }, null, 2)}\n`);
