/**
 * MQTT bridge benchmark: forwarding throughput of an edge broker's bridge to a remote Mosquitto,
 * out (edge → remote) and in (remote → edge), at QoS 0 and QoS 1, with Midge as the edge (its
 * default durable store, fsync, and the memory store) side by side with Mosquitto as the edge (a
 * `connection` block), on the same load in the same run.
 *
 * Run: npm run bench:mqtt-bridge [-- --messages 20000 --payload 64 --window 200 --inflight 100 --repeat 1 --json FILE]
 *      [--baseline OTHER/dist/src/cli/main.js]   (another build as the edge `baseline-fsync`, alternating with the others)
 *
 * Each case starts a fresh remote Mosquitto and a fresh edge, waits until the bridge forwards, then
 * publishes `messages` numbered messages at the source (QoS 1: at most `window` awaiting their
 * PUBACK; QoS 0: as fast as the socket takes them) and counts the distinct ones the subscriber at
 * the destination gets. The rate is delivered messages per second from the first publish to the
 * last delivery; lost is published minus delivered (at QoS 1 it must be 0); RSS is the edge's peak
 * resident memory; CPU is the edge's CPU time per 1000 delivered messages (from /proc), the figure
 * that depends least on what else the shared machine runs, shown with the remote Mosquitto's (the
 * busiest process of the chain sets the rate when the machine is short of CPU), and the time the
 * source took to publish beside the time to the last delivery (close together: the edge's
 * acknowledgements pace the source; far apart: the edge took messages faster than it forwarded).
 *
 * Both edges get the same limits: the bridge's in-flight window is `inflight` (Mosquitto
 * `max_inflight_messages`, which Mosquitto applies to its bridge connections too; Midge's
 * `maxInflight` of the bridge and of the broker), and so is the remote's window towards the bridge
 * (in) and the subscriber; queues hold `2 × messages` on every broker (`max_queued_messages`;
 * Midge's `maxQueuedMessages` and the bridge's `maxBacklogMessages`). Midge runs with the Node.js
 * flags it is deployed with (src/cli/node-flags.ts). Source and destination are the load
 * generator's hand-written client (src/loadgen/client.ts), which costs far less per message than
 * either broker (mqtt.js saturated a core here and capped every rate). With `--repeat N` each case
 * runs N times, the edges alternating, and the median row is kept, with the range of the rates and
 * the 1-minute load average at the start of the median run. Figures are indicative: the
 * machine is shared, so compare the rows of one run.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BenchClient } from '../src/loadgen/client.js';
import { NODE_FLAGS } from '../src/cli/node-flags.js';
import { accepting, ChildProc, freePort, HOST, sleep } from './child.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string' }, payload: { type: 'string' }, window: { type: 'string' }, inflight: { type: 'string' },
    repeat: { type: 'string' }, baseline: { type: 'string' }, json: { type: 'string' }, timeout: { type: 'string' }, only: { type: 'string' },
  },
});
/** `--only midge-fsync:out:0,mosquitto:out:0` runs just those cases. */
const ONLY = values.only?.split(',');
const MESSAGES = Number(values.messages ?? 20_000);
const PAYLOAD = Number(values.payload ?? 64);
const WINDOW = Number(values.window ?? 200);
/** The in-flight window of both edges' bridges (and of the remote towards the bridge and the subscriber). */
const INFLIGHT = Number(values.inflight ?? 100);
/** Every queue holds every message of a run twice over: neither edge may drop for lack of room. */
const QUEUE = 2 * MESSAGES;
const REPEAT = Number(values.repeat ?? 1);
const TIMEOUT_MS = Number(values.timeout ?? 60) * 1000;
const MIDGE_CLI = process.env.MIDGE_BENCH_CLI ?? fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
/** `--baseline PATH`: another build's dist/src/cli/main.js, run as the edge `baseline-fsync` (LevelDB fsync) beside the others, alternating. */
const BASELINE_CLI = values.baseline;
const MOSQUITTO = ['mosquitto', '/usr/sbin/mosquitto'].find((bin) => spawnSync(bin, ['-h'], { stdio: 'ignore' }).error === undefined);

type Edge = 'midge-fsync' | 'midge-memory' | 'baseline-fsync' | 'mosquitto';
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
  /** Edge CPU time (user + system) per 1000 delivered messages, in ms. */
  edgeCpuMsPer1k: number;
  /** The remote Mosquitto's CPU time per 1000 delivered messages, in ms (it forwards to the destination or feeds the bridge). */
  remoteCpuMsPer1k: number;
  seconds: number;
  /**
   * Seconds until the source had published (QoS 1: had every PUBACK but the last window's; QoS 0:
   * had written the last): far below `seconds` when the edge takes messages faster than it forwards.
   */
  publishSeconds: number;
  /** The machine's 1-minute load average when the case started (the machine is shared). */
  load1: number;
  /** With --repeat: the lowest and highest rate of the case's runs (the row is the median run). */
  rateRange?: [number, number];
}

/** A broker child process with its directory: stopped by PID, then the directory removed. */
class Proc extends ChildProc {
  readonly dir: string;
  constructor(name: string, command: string, args: string[], dir: string) {
    super(name, command, args, dir);
    this.dir = dir;
  }
  override async stop(): Promise<void> {
    await super.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function workDir(name: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `midge-bench-bridge-${name}-`));
  chmodSync(dir, 0o777); // mosquitto, started as root, runs as its own user
  return dir;
}

const MOSQUITTO_BASE = ['allow_anonymous true', 'persistence false', `max_inflight_messages ${INFLIGHT}`, `max_queued_messages ${QUEUE}`];

async function startMosquitto(lines: string[], port: number): Promise<Proc> {
  const dir = workDir('mosquitto');
  writeFileSync(path.join(dir, 'mosquitto.conf'), [`listener ${port} ${HOST}`, ...MOSQUITTO_BASE, ...lines].join('\n') + '\n');
  const proc = new Proc('mosquitto', MOSQUITTO as string, ['-c', path.join(dir, 'mosquitto.conf')], dir);
  await accepting(port, proc);
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
  const bridge = { name: 'cloud', url: `mqtt://${HOST}:${remotePort}`, protocolVersion: 4, maxInflight: INFLIGHT, maxBacklogMessages: QUEUE, topics: [{ filter: 'bench/#', direction, qos: 1 }] };
  const config = { bridges: [bridge] };
  writeFileSync(path.join(dir, 'midge.json'), JSON.stringify(config));
  const store = edge === 'midge-memory' ? ['--store', 'memory'] : ['--data-dir', path.join(dir, 'data')];
  // The same window and queue bounds as the Mosquitto brokers (see the top of this file)
  const cli = edge === 'baseline-fsync' ? (BASELINE_CLI as string) : MIDGE_CLI;
  const args = [...NODE_FLAGS, cli, '--max-inflight', String(INFLIGHT), '--max-queued-messages', String(QUEUE), '--max-queued-bytes', '100000000000', '--host', HOST, '--port', String(port), '--ws-port', '-1', '--http-port', '-1', '--sys-interval', '0', '--log-level', 'warn', '--config', path.join(dir, 'midge.json'), ...store];
  // MIDGE_BENCH_CPU_PROF=DIR writes a CPU profile of the Midge edge there
  const profile = process.env.MIDGE_BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.MIDGE_BENCH_CPU_PROF] : [];
  const proc = new Proc(edge, process.execPath, [...profile, ...args], dir);
  await accepting(port, proc);
  return proc;
}

let clientCount = 0;

async function connect(port: number): Promise<BenchClient> {
  return BenchClient.connect({ endpoint: { kind: 'tcp', host: HOST, port }, clientId: `bench-${++clientCount}`, keepalive: 60, timeoutMs: 10_000 });
}

/** The index a numbered payload carries; the probe carries PROBE. */
const PROBE = 0xffffffff;

function numbered(i: number): Buffer {
  const payload = Buffer.alloc(Math.max(4, PAYLOAD), 0x61);
  payload.writeUInt32BE(i, 0);
  return payload;
}

/** Publishes probes at the source until one arrives at the destination: the bridge forwards. */
async function bridgeReady(source: BenchClient, destination: BenchClient): Promise<void> {
  let arrived = false;
  destination.setHandlers({ onMessage: (payload) => (arrived ||= payload.readUInt32BE(0) === PROBE) });
  await destination.subscribe('bench/#', 1, 10_000);
  for (let i = 0; i < 300 && !arrived; i++) {
    source.publish(Buffer.from('bench/probe'), numbered(PROBE), 1);
    await sleep(100);
  }
  if (!arrived) throw new Error('the bridge did not forward a probe within 30 s');
}

/** QoS 1: at most WINDOW awaiting PUBACK; QoS 0: as fast as the socket takes them. */
async function publishAll(client: BenchClient, qos: 0 | 1): Promise<void> {
  const topics = Array.from({ length: 8 }, (_, i) => Buffer.from(`bench/t${i}`));
  let wake: (() => void) | undefined;
  const resume = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  client.setHandlers({ onComplete: () => client.outstanding < WINDOW / 2 && resume(), onDrain: resume, onLost: resume });
  for (let i = 0; i < MESSAGES; ) {
    if (!client.connected) throw new Error('the source lost its connection');
    client.cork();
    let full = false;
    for (const end = Math.min(MESSAGES, i + 64); i < end && !full; i++) {
      full = !client.publish(topics[i % 8] as Buffer, numbered(i), qos);
      if (qos === 1 && client.outstanding >= WINDOW) full = true;
    }
    client.uncork();
    if (full) await new Promise<void>((r) => (wake = r));
    else await new Promise<void>((r) => setImmediate(r));
  }
}

async function runCase(edge: Edge, direction: Direction, qos: 0 | 1): Promise<Row> {
  const load1 = Number((loadavg()[0] ?? 0).toFixed(1));
  const remotePort = await freePort();
  const edgePort = await freePort();
  const remote = await startMosquitto([], remotePort);
  const edgeProc = await startEdge(edge, edgePort, remotePort, direction);
  const clients: BenchClient[] = [];
  try {
    const [sourcePort, destinationPort] = direction === 'out' ? [edgePort, remotePort] : [remotePort, edgePort];
    const source = await connect(sourcePort);
    const destination = await connect(destinationPort);
    clients.push(source, destination);
    await bridgeReady(source, destination);
    await sleep(300); // the probes' acknowledgements are done
    const seen = new Uint8Array(MESSAGES);
    let delivered = 0;
    let duplicates = 0;
    let outOfOrder = 0;
    const lastByTopic = new Int32Array(8).fill(-1);
    let lastAt = 0;
    destination.setHandlers({
      onMessage: (payload) => {
        const n = payload.readUInt32BE(0);
        if (n === PROBE) return;
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
      },
    });
    // The destination's subscription at the case's QoS (the probe's was QoS 1)
    await destination.subscribe('bench/#', qos, 10_000);
    const cpuBefore = edgeProc.probe.cpuMs();
    const remoteCpuBefore = remote.probe.cpuMs();
    const started = performance.now();
    await publishAll(source, qos);
    const published = performance.now();
    const deadline = Date.now() + TIMEOUT_MS;
    let before: number;
    // Until everything arrived, or nothing more arrives for 3 s, or the timeout
    while (delivered < MESSAGES && Date.now() < deadline) {
      before = delivered;
      await sleep(qos === 0 ? 1000 : 3000);
      if (delivered === before) break;
    }
    const cpu = edgeProc.probe.cpuMs() - cpuBefore;
    const remoteCpu = remote.probe.cpuMs() - remoteCpuBefore;
    const seconds = ((lastAt || performance.now()) - started) / 1000;
    return {
      edge, direction, qos, rate: Math.round(delivered / seconds), delivered, lost: MESSAGES - delivered, duplicates, outOfOrder,
      edgeRssMb: Math.round(edgeProc.peakRssMb()), edgeCpuMsPer1k: Number(((cpu * 1000) / Math.max(1, delivered)).toFixed(1)), remoteCpuMsPer1k: Number(((remoteCpu * 1000) / Math.max(1, delivered)).toFixed(1)), seconds: Number(seconds.toFixed(2)), publishSeconds: Number(((published - started) / 1000).toFixed(2)), load1,
    };
  } finally {
    for (const c of clients) c.close();
    await edgeProc.stop();
    await remote.stop();
  }
}

/** The row with the median rate of several runs of one case. */
function median(rows: Row[]): Row {
  const sorted = [...rows].sort((a, b) => a.rate - b.rate);
  const middle = sorted[Math.floor((sorted.length - 1) / 2)] as Row;
  return { ...middle, rateRange: [sorted[0]?.rate ?? 0, sorted[sorted.length - 1]?.rate ?? 0] };
}

async function main(): Promise<void> {
  if (MOSQUITTO === undefined) {
    console.log('SKIPPED: the MQTT bridge benchmark needs mosquitto (apt-get install mosquitto)');
    return;
  }
  const rows: Row[] = [];
  for (const direction of ['out', 'in'] as const) {
    for (const qos of [0, 1] as const) {
      const all: Edge[] = BASELINE_CLI === undefined ? ['midge-fsync', 'midge-memory', 'mosquitto'] : ['midge-fsync', 'baseline-fsync', 'midge-memory', 'mosquitto'];
      const edges = all.filter((edge) => ONLY === undefined || ONLY.includes(`${edge}:${direction}:${qos}`));
      const runs = new Map<Edge, Row[]>(edges.map((edge) => [edge, []]));
      // Alternating, so a busy moment of the shared machine does not fall on one edge only
      for (let r = 0; r < REPEAT; r++) {
        for (const edge of edges) {
          const row = await runCase(edge, direction, qos);
          runs.get(edge)?.push(row);
          console.log(JSON.stringify(row));
        }
      }
      for (const edge of edges) rows.push(median(runs.get(edge) ?? []));
    }
  }
  const table = rows.map((r) => {
    const reference = rows.find((m) => m.edge === 'mosquitto' && m.direction === r.direction && m.qos === r.qos);
    return { ...r, vsMosquitto: reference && reference.rate > 0 ? Number((r.rate / reference.rate).toFixed(2)) : null };
  });
  console.table(
    table.map(({ edge, direction, qos, rate, rateRange, lost, duplicates, outOfOrder, edgeRssMb, edgeCpuMsPer1k, remoteCpuMsPer1k, seconds, publishSeconds, load1, vsMosquitto }) => ({
      edge, direction, qos, 'msg/s': rate, range: rateRange?.join('–'), 'vs Mosquitto': vsMosquitto, load: load1, lost, duplicates, 'out of order': outOfOrder, 'RSS MB': edgeRssMb, 'CPU ms/1k': edgeCpuMsPer1k,
      'remote CPU ms/1k': remoteCpuMsPer1k, 'published / last s': `${publishSeconds} / ${seconds}`,
    })),
  );
  const out = values.json ?? fileURLToPath(new URL('../../bench/results/mqtt-bridge.json', import.meta.url));
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), messages: MESSAGES, payload: PAYLOAD, window: WINDOW, inflight: INFLIGHT, queue: QUEUE, repeat: REPEAT, rows: table }, null, 2) + '\n');
  console.log(`wrote ${out}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
