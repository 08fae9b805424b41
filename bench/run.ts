import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { parseOptions, USAGE } from './args.js';
import type { BenchOptions } from './args.js';
import { BrokerProcess } from './broker-process.js';
import { brokerSpec, repoRoot } from './brokers.js';
import type { BrokerSpec } from './brokers.js';
import { clockTicksPerSecond, ProcProbe } from '../src/loadgen/proc.js';
import { Progress } from '../src/loadgen/progress.js';
import { writeJson } from './report.js';
import { chartSubtitle, renderChart } from './svg.js';
import type { BenchResult } from './report.js';
import type { RunContext, Scenario, ScenarioMetrics } from './scenario.js';
import { findScenario } from './scenarios.js';
import { formatSummary, summarize } from './summary.js';

/** Brokers and load generator talk over loopback only. */
const HOST = '127.0.0.1';
/** Slack on top of warm-up + duration before a scenario is declared hung. */
const SCENARIO_SLACK_MS = 60_000;

/** Runs every selected scenario against every selected broker and reports the results. */
async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  const specs = options.brokers.map(brokerSpec);
  const skipped: Record<string, string> = {};
  for (const spec of specs) {
    if (spec.unavailable === undefined) continue;
    skipped[spec.name] = spec.unavailable;
    console.error(`skipping ${spec.name}: ${spec.unavailable}`);
  }
  const available = specs.filter((s) => s.unavailable === undefined);
  if (available.length === 0) throw new Error('no broker to benchmark');
  const running = new Set<BrokerProcess>();
  installCleanup(running);
  const results = await runAll(options, available, running);
  const summary = summarize(results);
  console.log(`\n${formatSummary(results, summary)}`);
  const document = { generatedAt: new Date().toISOString(), machine: machine(), options, skipped, results, ...summary };
  const files = [path.join(repoRoot(), 'bench/results/latest.json')];
  if (options.jsonFile !== undefined) files.push(path.resolve(options.jsonFile));
  for (const file of files) writeJson(file, document);
  const chart = path.join(repoRoot(), 'bench/results/latest.svg');
  writeFileSync(chart, renderChart(results, chartSubtitle(document)));
  console.log(`\nresults written to ${files.join(' and ')}, chart to ${chart}`);
  const clusterFailed = options.cluster && runCluster(options) !== 0;
  return results.some((r) => r.error !== undefined) || clusterFailed ? 1 : 0;
}

/** The cluster benchmark (bench/cluster.ts) as a child process with the same settings; its exit status. */
function runCluster(options: BenchOptions): number {
  console.log('\ncluster benchmark (bench/cluster.ts):');
  const script = fileURLToPath(new URL('./cluster.js', import.meta.url));
  const args = [script, '--duration', String(options.durationMs / 1000), '--warmup', String(options.warmupMs / 1000), '--payload', String(options.payloadSize)];
  return spawnSync(process.execPath, args, { stdio: 'inherit' }).status ?? 1;
}

/**
 * Scenario-major order, so the brokers' numbers for one scenario are taken close together. A broker
 * that cannot run in a scenario's mode (only Midge has the instrumented one) is left out of it.
 */
async function runAll(
  options: BenchOptions,
  specs: readonly BrokerSpec[],
  running: Set<BrokerProcess>,
): Promise<BenchResult[]> {
  const ticks = clockTicksPerSecond();
  const results: BenchResult[] = [];
  for (const name of options.scenarios) {
    const scenario = findScenario(name);
    if (scenario === undefined) throw new Error(`unknown scenario ${name}`);
    for (const spec of specs.filter((s) => s.modes.includes(scenario.mode))) {
      const result = await runOne(spec, scenario, options, running, ticks);
      console.error(progressLine(result));
      results.push(result);
    }
  }
  return results;
}

/** Starts a fresh broker, runs one scenario against it and stops the broker, whatever happens. */
async function runOne(
  spec: BrokerSpec,
  scenario: Scenario,
  options: BenchOptions,
  running: Set<BrokerProcess>,
  ticks: number,
): Promise<BenchResult> {
  let broker: BrokerProcess | undefined;
  const progress = new Progress(process.stderr);
  try {
    broker = await BrokerProcess.start(spec, HOST, scenario.mode);
    running.add(broker);
    const context = { ...scenarioContext(broker, options, ticks), progress };
    const limitMs = options.warmupMs + options.durationMs + SCENARIO_SLACK_MS;
    const metrics = await withTimeout(scenario.run(context), limitMs);
    if (broker.exitReason !== undefined) throw new Error(`broker ${broker.exitReason}\n${broker.outputTail}`);
    return { scenario: scenario.name, broker: spec.name, metrics };
  } catch (err) {
    const tail = broker?.exitReason !== undefined ? `\n${broker.outputTail}` : '';
    const message = err instanceof Error ? err.message : String(err);
    return { scenario: scenario.name, broker: spec.name, error: `${message}${tail}` };
  } finally {
    progress.stop();
    if (broker !== undefined) {
      await broker.stop();
      running.delete(broker);
    }
  }
}

/** What a scenario gets to know about its broker and the run. */
function scenarioContext(broker: BrokerProcess, options: BenchOptions, ticks: number): RunContext {
  return {
    endpoint: { kind: 'tcp', host: HOST, port: broker.port },
    topicRoot: 'bench',
    clientIdPrefix: '',
    probe: new ProcProbe(broker.pid, ticks),
    readCounters: broker.queryable ? () => broker.query({ type: 'counters' }) : undefined,
    warmupMs: options.warmupMs,
    durationMs: options.durationMs,
    payloadSize: options.payloadSize,
  };
}

/** Rejects if `promise` takes longer than `ms`. */
async function withTimeout(promise: Promise<ScenarioMetrics>, ms: number): Promise<ScenarioMetrics> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`scenario did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Kills brokers that are still running when this process exits or is interrupted. */
function installCleanup(running: Set<BrokerProcess>): void {
  process.once('exit', () => running.forEach((broker) => broker.kill()));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      running.forEach((broker) => broker.kill());
      process.exit(130);
    });
  }
}

/** One line of progress on stderr. */
function progressLine(result: BenchResult): string {
  if (result.error !== undefined) return `${result.scenario} ${result.broker}: ERROR ${result.error}`;
  const m = result.metrics ?? {};
  const parts = [
    m.rate !== undefined ? `${Math.round(m.rate)} ${m.unit ?? ''}` : '',
    m.p50Ms !== undefined ? `p50 ${m.p50Ms.toFixed(3)} ms p99 ${(m.p99Ms ?? Number.NaN).toFixed(3)} ms` : '',
    m.mbPer1k !== undefined ? `${m.mbPer1k.toFixed(2)} MB/1k` : '',
    m.counts !== undefined ? `lost ${m.counts.lost} dup ${m.counts.duplicated} reord ${m.counts.reordered}` : '',
  ];
  return `${result.scenario} ${result.broker}: ${parts.filter((p) => p !== '').join(', ')}`;
}

/** Facts about the machine that make numbers comparable between runs. */
function machine(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? 'unknown',
  };
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(2);
  },
);
