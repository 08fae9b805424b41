/**
 * Cluster benchmark (issue 15): `midge bench` load shapes with publishers on node 1 and
 * subscribers spread over nodes 2 and 3 of a 3-node Midge cluster on one nats-server, side by side
 * with nats-server's own MQTT listener (the reference cluster broker; MQTT 3.1.1, QoS 0/1) and a
 * single Midge process (the QoS 0 reference). Every process is a fresh child per case, on free
 * 127.0.0.1 ports, stopped by PID. Prints a table and writes bench/results/cluster-latest.json.
 *
 *   node dist/bench/cluster.js [--duration 5] [--warmup 1] [--payload 64] [--only SCENARIO|SYSTEM|SCENARIO:SYSTEM[,...]]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { NODE_FLAGS } from '../src/cli/node-flags.js';
import type { QoS } from '../src/loadgen/client.js';
import type { Endpoint } from '../src/loadgen/endpoint.js';
import type { ScenarioMetrics } from '../src/loadgen/metrics.js';
import { defaultShape, findLoadScenario, throughputSpec, type LoadShape } from '../src/loadgen/scenarios.js';
import { runThroughput } from '../src/loadgen/throughput.js';
import { repoRoot } from './brokers.js';
import { accepting, ChildProc as Proc, freePort, HOST } from './child.js';
import { writeJson } from './report.js';

/** Outbound QoS 1 messages in flight per subscriber, the same for every broker (Midge's default). */
const MAX_INFLIGHT = 100;
/** A system under test: where publishers and subscribers connect, its processes, and its own figures. */
interface System {
  readonly publish: Endpoint;
  readonly subscribe: readonly Endpoint[];
  readonly procs: readonly Proc[];
  /** JetStream append latency of each Midge node, from its /status.json (cluster only). */
  appendLatency?: () => Promise<Record<string, AppendFigures>>;
  /** Messages each Midge process dropped, from its /status.json. */
  dropped?: () => Promise<Record<string, number>>;
  readonly dirs: string[];
  /** nats-server's pprof port (MIDGE_BENCH_NATS_PROF). */
  readonly natsProfPort?: number | undefined;
}

/** A node's JetStream append figures over its last 4096 appends. */
interface AppendFigures {
  p50Ms: number | null;
  p99Ms: number | null;
  count: number;
}

interface CaseResult {
  scenario: string;
  system: string;
  rate?: number;
  unit?: string;
  lost?: number;
  duplicated?: number;
  reordered?: number;
  rssMb?: Record<string, number>;
  cpuUsPerMsg?: Record<string, number>;
  /** Per Midge node that appended (QoS 1/2 publishers' nodes): JetStream append latency. */
  appendMs?: Record<string, AppendFigures>;
  /** Anything a reader should know (from the load generator, or slow consumers nats-server reported). */
  notes?: string[];
  error?: string;
}

async function stop(system: System): Promise<void> {
  for (const p of [...system.procs].reverse()) await p.stop();
  for (const dir of system.dirs) rmSync(dir, { recursive: true, force: true });
}

const tcp = (port: number): Endpoint => ({ kind: 'tcp', host: HOST, port });
/** MIDGE_BENCH_CLI: another build's CLI (e.g. main's, to compare a branch's figures with it). */
const cli = () => process.env.MIDGE_BENCH_CLI ?? path.join(repoRoot(), 'dist/src/cli/main.js');

async function midgeNode(dir: string, name: string, extra: string[]): Promise<{ proc: Proc; port: number; http: number }> {
  const port = await freePort();
  const http = await freePort();
  // MIDGE_BENCH_NODE_ARGS: extra node flags for the Midge processes (e.g. --cpu-prof --cpu-prof-dir=DIR to profile them)
  const nodeArgs = (process.env.MIDGE_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const args = [...NODE_FLAGS, ...nodeArgs, cli(), '--host', HOST, '--port', String(port), '--ws-port', '-1', '--http-port', String(http), '--store', 'memory', '--log-level', 'warn', '--sys-interval', '0', '--max-inflight', String(MAX_INFLIGHT), ...extra];
  const proc = new Proc(name, process.execPath, args, dir);
  await accepting(port, proc);
  return { proc, port, http };
}

/** nats-server with JetStream (and, for the reference, its MQTT listener). */
async function natsServer(dir: string, mqtt: boolean): Promise<{ proc: Proc; port: number; mqttPort: number; profPort: number | undefined }> {
  const port = await freePort();
  const mqttPort = await freePort();
  const config = path.join(dir, 'nats.conf');
  const lines = [`listen: "${HOST}:${port}"`, `server_name: bench_${port}`, `jetstream { store_dir: "${path.join(dir, 'js')}" }`];
  // MIDGE_BENCH_NATS_PROF=DIR: nats-server's pprof listener, read over the measured window (see profileNats)
  const profPort = process.env.MIDGE_BENCH_NATS_PROF === undefined ? undefined : await freePort();
  if (profPort !== undefined) lines.push(`prof_port: ${profPort}`);
  // max_ack_pending: QoS 1 messages in flight per subscription, Midge's maxInflight (100) for both
  // (nats-server's default is 1024), so neither broker gets a wider delivery window
  if (mqtt) lines.push(`mqtt { listen: "${HOST}:${mqttPort}", max_ack_pending: ${MAX_INFLIGHT} }`);
  writeFileSync(config, `${lines.join('\n')}\n`);
  const proc = new Proc(mqtt ? 'nats-mqtt' : 'nats', 'nats-server', ['-c', config], dir);
  await accepting(mqtt ? mqttPort : port, proc);
  if (mqtt) await accepting(port, proc);
  return { proc, port, mqttPort, profPort };
}

async function midgeCluster(): Promise<System> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'midge-bench-cluster-'));
  const nats = await natsServer(dir, false);
  const nodes = [];
  for (let i = 1; i <= 3; i++) nodes.push(await midgeNode(dir, `node${i}`, ['--cluster', `nats://${HOST}:${nats.port}`, '--node-id', `n${i}`]));
  const [n1, n2, n3] = nodes as [typeof nodes[0], typeof nodes[0], typeof nodes[0]];
  return {
    publish: tcp(n1.port),
    subscribe: [tcp(n2.port), tcp(n3.port)],
    procs: [nats.proc, n1.proc, n2.proc, n3.proc],
    dirs: [dir],
    natsProfPort: nats.profPort,
    appendLatency: async () => {
      const out: Record<string, AppendFigures> = {};
      for (const [i, n] of [n1, n2, n3].entries()) {
        const status = (await (await fetch(`http://${HOST}:${n.http}/status.json`)).json()) as { cluster: { append: AppendFigures } };
        if (status.cluster.append.count > 0) out[`node${i + 1}`] = status.cluster.append;
      }
      return out;
    },
    dropped: () => droppedOf([n1, n2, n3].map((n, i) => [`node${i + 1}`, n.http])),
  };
}

async function midgeSingle(): Promise<System> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'midge-bench-single-'));
  const node = await midgeNode(dir, 'midge', []);
  return { publish: tcp(node.port), subscribe: [tcp(node.port)], procs: [node.proc], dirs: [dir], dropped: () => droppedOf([['midge', node.http]]) };
}

async function natsMqtt(): Promise<System> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'midge-bench-natsmqtt-'));
  const nats = await natsServer(dir, true);
  return { publish: tcp(nats.mqttPort), subscribe: [tcp(nats.mqttPort)], procs: [nats.proc], dirs: [dir], natsProfPort: nats.profPort };
}

async function droppedOf(nodes: [string, number][]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [name, http] of nodes) out[name] = ((await (await fetch(`http://${HOST}:${http}/status.json`)).json()) as { messages: { dropped: number } }).messages.dropped;
  return out;
}

const SYSTEMS: Record<string, () => Promise<System>> = { 'midge-cluster': midgeCluster, 'nats-mqtt': natsMqtt, 'midge-single': midgeSingle };

function shapeOf(name: string, subscribers?: number): LoadShape {
  const scenario = findLoadScenario(name);
  if (scenario === undefined) throw new Error(`no midge bench scenario ${name}`);
  const shape = defaultShape(scenario);
  return subscribers === undefined ? shape : { ...shape, subscribers };
}

/** The cases: fan-in with 2 subscribers (one per subscriber node), fan-out with 50 (25 per node). */
const CASES: { scenario: string; qos: QoS; shape: LoadShape; systems: string[] }[] = [
  { scenario: 'cluster-fanin-qos0', qos: 0, shape: shapeOf('fanin-qos0', 2), systems: ['midge-cluster', 'nats-mqtt', 'midge-single'] },
  { scenario: 'cluster-fanin-qos1', qos: 1, shape: shapeOf('fanin-qos1', 2), systems: ['midge-cluster', 'nats-mqtt'] },
  // nats-server 2.9's MQTT listener has no QoS 2: Midge's cluster alone (the cost of the session record written before each append)
  { scenario: 'cluster-fanin-qos2', qos: 2, shape: shapeOf('fanin-qos2', 2), systems: ['midge-cluster'] },
  { scenario: 'cluster-fanout-qos0', qos: 0, shape: shapeOf('fanout-qos0'), systems: ['midge-cluster', 'nats-mqtt', 'midge-single'] },
];

async function runCase(scenario: string, qos: QoS, shape: LoadShape, systemName: string, options: { warmupMs: number; durationMs: number; payloadSize: number }): Promise<CaseResult> {
  const system = await SYSTEMS[systemName]?.();
  if (system === undefined) throw new Error(`unknown system ${systemName}`);
  try {
    let cpuStart: number[] = [];
    let natsProfile: Promise<void> | undefined;
    const spec = {
      ...throughputSpec(qos, shape),
      window: {
        begin: async () => {
          cpuStart = system.procs.map((p) => p.probe.cpuMs());
          natsProfile = profileNats(system, `${scenario}-${systemName}`, options.durationMs);
        },
        end: async () => {
          const cpu = Object.fromEntries(system.procs.map((p, i) => [`cpuMs:${p.name}`, p.probe.cpuMs() - (cpuStart[i] ?? 0)]));
          await natsProfile;
          return cpu;
        },
      },
    };
    const total = { rssKb: () => system.procs.reduce((s, p) => s + p.probe.rssKb(), 0), cpuMs: () => system.procs.reduce((s, p) => s + p.probe.cpuMs(), 0) };
    const metrics: ScenarioMetrics = await runThroughput(spec, {
      endpoint: system.publish,
      subscriberEndpoints: system.subscribe,
      topicRoot: 'bench',
      clientIdPrefix: '',
      probe: total,
      ...options,
    });
    const deliveries = metrics.extra?.['deliveriesMeasured'] ?? 0;
    const cpuUsPerMsg: Record<string, number> = {};
    for (const p of system.procs) {
      const ms = metrics.extra?.[`cpuMs:${p.name}`];
      if (ms !== undefined && deliveries > 0) cpuUsPerMsg[p.name] = (ms * 1000) / deliveries;
    }
    const append = await system.appendLatency?.();
    return {
      scenario,
      system: systemName,
      rate: metrics.rate,
      unit: metrics.unit,
      lost: metrics.counts?.lost,
      duplicated: metrics.counts?.duplicated,
      reordered: metrics.counts?.reordered,
      rssMb: Object.fromEntries(system.procs.map((p) => [p.name, p.probe.rssKb() / 1024])),
      cpuUsPerMsg,
      appendMs: append,
      notes: [...(metrics.notes ?? []), ...slowConsumers(system), ...droppedNote(await system.dropped?.()), ...(metrics.stalls ? [`${metrics.stalls} publisher stall(s)`] : [])],
    };
  } catch (err) {
    return { scenario, system: systemName, error: `${(err as Error).message}\n${system.procs.map((p) => p.output.slice(-500)).join('\n')}` };
  } finally {
    await stop(system);
  }
}

/**
 * MIDGE_BENCH_NATS_PROF=DIR: nats-server's CPU profile over the measured window (Go pprof, read it
 * with bench/profiles/tools/pprof.cjs), written to DIR/<scenario>-<system>.pb.gz.
 */
async function profileNats(system: System, name: string, durationMs: number): Promise<void> {
  const dir = process.env.MIDGE_BENCH_NATS_PROF;
  if (dir === undefined || system.natsProfPort === undefined) return;
  const seconds = Math.max(1, Math.floor(durationMs / 1000));
  const answer = await fetch(`http://${HOST}:${system.natsProfPort}/debug/pprof/profile?seconds=${seconds}`);
  writeFileSync(path.join(dir, `${name}.pb.gz`), Buffer.from(await answer.arrayBuffer()));
}

/** nats-server's slow-consumer reports: core NATS drops messages for a client that cannot keep up. */
function slowConsumers(system: System): string[] {
  const lines = system.procs.flatMap((p) => p.output.split('\n').filter((l) => /slow consumer/i.test(l)).map((l) => `${p.name}: ${l.trim()}`));
  return lines.length === 0 ? [] : [`${lines.length} slow consumer report(s), e.g. ${lines[0]}`];
}

function droppedNote(dropped: Record<string, number> | undefined): string[] {
  const some = Object.entries(dropped ?? {}).filter(([, n]) => n > 0);
  return some.length === 0 ? [] : [`dropped by Midge: ${some.map(([k, n]) => `${k} ${n}`).join(', ')}`];
}

function table(results: CaseResult[]): string {
  const lines = ['scenario              system         rate            lost  dup  reord  append p50/p99 ms  RSS MB per process                  CPU µs/msg per process'];
  for (const r of results) {
    if (r.error !== undefined) {
      lines.push(`${r.scenario.padEnd(21)} ${r.system.padEnd(14)} ERROR ${r.error.split('\n')[0]}`);
      continue;
    }
    const per = (m: Record<string, number> | undefined, digits: number) => Object.entries(m ?? {}).map(([k, v]) => `${k} ${v.toFixed(digits)}`).join(', ');
    const ms = (v: number | null) => (v === null ? '-' : v.toFixed(1));
    const append = r.appendMs === undefined ? '-' : Object.entries(r.appendMs).map(([k, a]) => `${k} ${ms(a.p50Ms)}/${ms(a.p99Ms)}`).join(', ') || '-';
    lines.push(
      `${r.scenario.padEnd(21)} ${r.system.padEnd(14)} ${`${Math.round(r.rate ?? 0)} ${r.unit ?? ''}`.padEnd(15)} ${String(r.lost ?? '-').padStart(4)} ${String(r.duplicated ?? '-').padStart(4)} ${String(r.reordered ?? '-').padStart(6)}  ${append.padEnd(18)} ${per(r.rssMb, 0).padEnd(35)} ${per(r.cpuUsPerMsg, 1)}`,
    );
  }
  return lines.join('\n');
}

/** Cluster QoS 1 ÷ NATS-MQTT QoS 1 (target ≥ 1.0) and cluster QoS 0 ÷ single-node Midge (target ≥ 0.5). */
function ratios(results: CaseResult[]): Record<string, number | null> {
  const rate = (scenario: string, system: string) => results.find((r) => r.scenario === scenario && r.system === system && r.error === undefined)?.rate;
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? Math.round((a / b) * 100) / 100 : null);
  return {
    'cluster-fanin-qos1 midge-cluster/nats-mqtt (target >= 1.0)': ratio(rate('cluster-fanin-qos1', 'midge-cluster'), rate('cluster-fanin-qos1', 'nats-mqtt')),
    'cluster-fanin-qos0 midge-cluster/midge-single (target >= 0.5)': ratio(rate('cluster-fanin-qos0', 'midge-cluster'), rate('cluster-fanin-qos0', 'midge-single')),
    'cluster-fanout-qos0 midge-cluster/midge-single (target >= 0.5)': ratio(rate('cluster-fanout-qos0', 'midge-cluster'), rate('cluster-fanout-qos0', 'midge-single')),
    'cluster-fanin-qos0 midge-cluster/nats-mqtt': ratio(rate('cluster-fanin-qos0', 'midge-cluster'), rate('cluster-fanin-qos0', 'nats-mqtt')),
    'cluster-fanout-qos0 midge-cluster/nats-mqtt': ratio(rate('cluster-fanout-qos0', 'midge-cluster'), rate('cluster-fanout-qos0', 'nats-mqtt')),
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { duration: { type: 'string', default: '5' }, warmup: { type: 'string', default: '1' }, payload: { type: 'string', default: '64' }, only: { type: 'string' } } });
  const options = { durationMs: Number(values.duration) * 1000, warmupMs: Number(values.warmup) * 1000, payloadSize: Number(values.payload) };
  if (spawnSync('nats-server', ['--version']).status !== 0) {
    console.error('skipping the cluster benchmark: nats-server is not on PATH (apt-get install nats-server)');
    return 0;
  }
  const results: CaseResult[] = [];
  for (const c of CASES) {
    for (const system of c.systems) {
      if (values.only !== undefined && !values.only.split(',').some((o) => o === c.scenario || o === system || o === `${c.scenario}:${system}`)) continue;
      const result = await runCase(c.scenario, c.qos, c.shape, system, options);
      console.error(`${c.scenario} ${system}: ${result.error ?? `${Math.round(result.rate ?? 0)} ${result.unit}`}`);
      results.push(result);
    }
  }
  const summary = ratios(results);
  console.log(`\n${table(results)}\n`);
  for (const [k, v] of Object.entries(summary)) console.log(`${k}: ${v ?? 'n/a'}`);
  for (const r of results) for (const note of r.notes ?? []) console.log(`note ${r.scenario} ${r.system}: ${note}`);
  const file = path.join(repoRoot(), 'bench/results/cluster-latest.json');
  writeJson(file, { generatedAt: new Date().toISOString(), options, machine: { node: process.version, cpus: os.cpus().length }, results, ratios: summary });
  console.log(`\nresults written to ${file}`);
  return results.some((r) => r.error !== undefined) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  },
);
