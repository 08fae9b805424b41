/**
 * MQTT bridge benchmark: forwarding throughput of an edge broker's bridge to a remote Mosquitto,
 * out (edge → remote) and in (remote → edge), at QoS 0 and QoS 1, with Midge as the edge (its
 * default durable store, fsync, and the memory store) side by side with Mosquitto as the edge (a
 * `connection` block), on the same load in the same run.
 *
 * Run: npm run bench:mqtt-bridge [-- --messages 20000 --payload 64 --window 200 --json FILE]
 *
 * Each case starts a fresh remote Mosquitto and a fresh edge, waits until the bridge forwards, then
 * publishes `messages` numbered messages at the source (QoS 1: at most `window` awaiting their
 * PUBACK; QoS 0: in bursts of `window`, pausing while the socket buffer is full) and counts the
 * distinct ones the subscriber at the destination gets. The rate is delivered messages per second
 * from the first publish to the last delivery; lost is published minus delivered (at QoS 1 it must
 * be 0); RSS is the edge's peak resident memory. Figures are indicative: the machine is shared, so
 * compare the rows of one run.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';

const HOST = '127.0.0.1';
const { values } = parseArgs({ options: { messages: { type: 'string' }, payload: { type: 'string' }, window: { type: 'string' }, json: { type: 'string' }, timeout: { type: 'string' }, only: { type: 'string' } } });
/** `--only midge-fsync:out:0,mosquitto:out:0` runs just those cases. */
const ONLY = values.only?.split(',');
const MESSAGES = Number(values.messages ?? 20_000);
const PAYLOAD = Number(values.payload ?? 64);
const WINDOW = Number(values.window ?? 200);
const TIMEOUT_MS = Number(values.timeout ?? 60) * 1000;
const MIDGE_CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const MOSQUITTO = ['mosquitto', '/usr/sbin/mosquitto'].find((bin) => spawnSync(bin, ['-h'], { stdio: 'ignore' }).error === undefined);

type Edge = 'midge-fsync' | 'midge-memory' | 'mosquitto';
type Direction = 'out' | 'in';
interface Row {
  edge: Edge;
  direction: Direction;
  qos: 0 | 1;
  rate: number;
  delivered: number;
  lost: number;
  duplicates: number;
  outOfOrder: number;
  edgeRssMb: number;
  seconds: number;
}

/** A child process (a broker) with its directory; stopped by PID. */
class Proc {
  readonly child: ChildProcess;
  readonly dir: string;
  output = '';
  constructor(command: string, args: string[], dir: string) {
    this.dir = dir;
    this.child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
    const keep = (d: Buffer) => (this.output = (this.output + d.toString()).slice(-8192));
    this.child.stdout?.on('data', keep);
    this.child.stderr?.on('data', keep);
  }
  /** Peak resident memory (VmHWM) in MB. */
  peakRssMb(): number {
    const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  }
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      // SIGTERM first (Midge writes its CPU profile then), SIGKILL if it lingers
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    }
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function listening(port: number, proc: Proc): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, HOST, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on ${port}: ${proc.output}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function workDir(name: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `midge-bench-bridge-${name}-`));
  chmodSync(dir, 0o777); // mosquitto, started as root, runs as its own user
  return dir;
}

const MOSQUITTO_BASE = ['allow_anonymous true', 'persistence false', 'max_inflight_messages 0', 'max_queued_messages 0'];

async function startMosquitto(lines: string[], port: number): Promise<Proc> {
  const dir = workDir('mosquitto');
  writeFileSync(path.join(dir, 'mosquitto.conf'), [`listener ${port} ${HOST}`, ...MOSQUITTO_BASE, ...lines].join('\n') + '\n');
  const proc = new Proc(MOSQUITTO as string, ['-c', path.join(dir, 'mosquitto.conf')], dir);
  await listening(port, proc);
  return proc;
}

async function startEdge(edge: Edge, port: number, remotePort: number, direction: Direction): Promise<Proc> {
  if (edge === 'mosquitto') {
    return startMosquitto(
      ['connection cloud', `address ${HOST}:${remotePort}`, 'bridge_protocol_version mqttv311', 'try_private true', 'cleansession false', `topic bench/# ${direction} 1`],
      port,
    );
  }
  const dir = workDir(edge);
  const config = { bridges: [{ name: 'cloud', url: `mqtt://${HOST}:${remotePort}`, protocolVersion: 4, topics: [{ filter: 'bench/#', direction, qos: 1 }] }] };
  writeFileSync(path.join(dir, 'midge.json'), JSON.stringify(config));
  const store = edge === 'midge-memory' ? ['--store', 'memory'] : ['--data-dir', path.join(dir, 'data')];
  // The destination subscriber's queue unbounded, as max_queued_messages 0 gives Mosquitto
  const args = [MIDGE_CLI, '--max-queued-messages', '100000000', '--max-queued-bytes', '100000000000', '--host', HOST, '--port', String(port), '--ws-port', '-1', '--http-port', '-1', '--sys-interval', '0', '--log-level', 'warn', '--config', path.join(dir, 'midge.json'), ...store];
  // MIDGE_BENCH_CPU_PROF=DIR writes a CPU profile of the Midge edge there
  const profile = process.env.MIDGE_BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.MIDGE_BENCH_CPU_PROF] : [];
  const proc = new Proc(process.execPath, [...profile, ...args], dir);
  await listening(port, proc);
  return proc;
}

async function connect(port: number): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://${HOST}:${port}`, { reconnectPeriod: 0, protocolVersion: 4 });
}

/** Publishes probes at the source until one arrives at the destination: the bridge forwards. */
async function bridgeReady(source: MqttClient, destination: MqttClient): Promise<void> {
  let arrived = false;
  const onMessage = (topic: string) => {
    if (topic === 'bench/probe') arrived = true;
  };
  destination.on('message', onMessage);
  await destination.subscribeAsync('bench/#', { qos: 1 });
  for (let i = 0; i < 300 && !arrived; i++) {
    await source.publishAsync('bench/probe', 'probe', { qos: 1 });
    await sleep(100);
  }
  destination.removeListener('message', onMessage);
  if (!arrived) throw new Error('the bridge did not forward a probe within 30 s');
}

async function publishAll(client: MqttClient, qos: 0 | 1): Promise<void> {
  const payload = Buffer.alloc(PAYLOAD, 0x61);
  for (let from = 0; from < MESSAGES; from += WINDOW) {
    const sends: Promise<unknown>[] = [];
    for (let i = from; i < Math.min(MESSAGES, from + WINDOW); i++) {
      payload.writeUInt32BE(i, 0);
      sends.push(client.publishAsync(`bench/t${i % 8}`, Buffer.from(payload), { qos }));
    }
    await Promise.all(sends);
    while ((client.stream?.writableLength ?? 0) > 1 << 20) await sleep(1);
  }
}

async function runCase(edge: Edge, direction: Direction, qos: 0 | 1): Promise<Row> {
  const remotePort = await freePort();
  const edgePort = await freePort();
  const remote = await startMosquitto([], remotePort);
  const edgeProc = await startEdge(edge, edgePort, remotePort, direction);
  const clients: MqttClient[] = [];
  try {
    const [sourcePort, destinationPort] = direction === 'out' ? [edgePort, remotePort] : [remotePort, edgePort];
    const source = await connect(sourcePort);
    const destination = await connect(destinationPort);
    clients.push(source, destination);
    await bridgeReady(source, destination);
    const seen = new Uint8Array(MESSAGES);
    let delivered = 0;
    let duplicates = 0;
    let outOfOrder = 0;
    const lastByTopic = new Int32Array(8).fill(-1);
    let lastAt = 0;
    destination.on('message', (topic, payload) => {
      if (topic === 'bench/probe') return;
      const n = payload.readUInt32BE(0);
      if (seen[n] === 1) {
        duplicates++;
        return;
      }
      seen[n] = 1;
      delivered++;
      // Order is per topic [MQTT-4.6.0-5]
      if (n < (lastByTopic[n % 8] as number)) outOfOrder++;
      lastByTopic[n % 8] = n;
      lastAt = performance.now();
    });
    await destination.subscribeAsync('bench/#', { qos });
    const started = performance.now();
    await publishAll(source, qos);
    const deadline = Date.now() + TIMEOUT_MS;
    let before: number;
    // Until everything arrived, or nothing more arrives for 3 s, or the timeout
    while (delivered < MESSAGES && Date.now() < deadline) {
      before = delivered;
      await sleep(qos === 0 ? 1000 : 3000);
      if (delivered === before) break;
    }
    const seconds = ((lastAt || performance.now()) - started) / 1000;
    return { edge, direction, qos, rate: Math.round(delivered / seconds), delivered, lost: MESSAGES - delivered, duplicates, outOfOrder, edgeRssMb: Math.round(edgeProc.peakRssMb()), seconds: Number(seconds.toFixed(2)) };
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await edgeProc.stop();
    await remote.stop();
  }
}

async function main(): Promise<void> {
  if (MOSQUITTO === undefined) {
    console.log('SKIPPED: the MQTT bridge benchmark needs mosquitto (apt-get install mosquitto)');
    return;
  }
  const rows: Row[] = [];
  for (const direction of ['out', 'in'] as const) {
    for (const qos of [0, 1] as const) {
      for (const edge of ['midge-fsync', 'midge-memory', 'mosquitto'] as const) {
        if (ONLY !== undefined && !ONLY.includes(`${edge}:${direction}:${qos}`)) continue;
        const row = await runCase(edge, direction, qos);
        rows.push(row);
        console.log(JSON.stringify(row));
      }
    }
  }
  const table = rows.map((r) => {
    const reference = rows.find((m) => m.edge === 'mosquitto' && m.direction === r.direction && m.qos === r.qos);
    return { ...r, vsMosquitto: reference && reference.rate > 0 ? Number((r.rate / reference.rate).toFixed(2)) : null };
  });
  console.table(table.map(({ edge, direction, qos, rate, lost, duplicates, edgeRssMb, vsMosquitto }) => ({ edge, direction, qos, 'msg/s': rate, lost, duplicates, 'RSS MB': edgeRssMb, 'vs Mosquitto': vsMosquitto })));
  const out = values.json ?? fileURLToPath(new URL('../../bench/results/mqtt-bridge.json', import.meta.url));
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), messages: MESSAGES, payload: PAYLOAD, window: WINDOW, rows: table }, null, 2) + '\n');
  console.log(`wrote ${out}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
