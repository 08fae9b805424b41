import { computeRatios, fmt, formatRatios, formatResults, renderTable } from './report.js';
import type { BenchResult, RatioRow } from './report.js';
import { ratio } from '../src/loadgen/stats.js';

/** A broker's durable rate as a fraction of its own in-memory rate for the same load. */
export interface DurabilityRow {
  broker: string;
  durable: string;
  memory: string;
  /** durable rate / in-memory rate: 1 means durability is free. */
  ratio: number;
}

/** One target of the durability issue, checked against this run. */
export interface TargetRow {
  target: string;
  value: number;
  /** The value must be at least this. */
  atLeast: number;
  met: boolean;
}

/** Everything derived from the results of one run. */
export interface Summary {
  ratios: RatioRow[];
  durability: DurabilityRow[];
  targets: TargetRow[];
}

/** Durable scenarios and the in-memory scenario with the same load. */
const DURABLE_PAIRS: ReadonlyArray<readonly [durable: string, memory: string]> = [
  ['durable-fanin-qos1', 'fanin-qos1'],
  ['durable-fanin-qos2', 'fanin-qos2'],
];

/** Ratios between brokers, durability costs and the targets. */
export function summarize(results: readonly BenchResult[]): Summary {
  const rate = (scenario: string, broker: string): number | undefined =>
    results.find((r) => r.scenario === scenario && r.broker === broker)?.metrics?.rate;
  const brokers = [...new Set(results.map((r) => r.broker))];
  const durability = DURABLE_PAIRS.flatMap(([durable, memory]) =>
    brokers.map((broker) => ({ broker, durable, memory, ratio: ratio(rate(durable, broker), rate(memory, broker)) })),
  ).filter((row) => Number.isFinite(row.ratio));
  const versusAedes = (scenario: string): number => ratio(rate(scenario, 'midge'), rate(scenario, 'aedes'));
  const ownCost = ratio(rate('durable-fanin-qos1', 'midge'), rate('fanin-qos1', 'midge'));
  const targets = [
    target('midge durable-fanin-qos1 / midge fanin-qos1', 0.5, ownCost),
    target('midge / aedes durable-fanin-qos1', 2, versusAedes('durable-fanin-qos1')),
    target('midge / aedes durable-fanin-qos2', 2, versusAedes('durable-fanin-qos2')),
  ].flat();
  return { ratios: computeRatios(results), durability, targets };
}

/** A target row, or none when this run did not measure the value. */
function target(name: string, atLeast: number, value: number): TargetRow[] {
  return Number.isFinite(value) ? [{ target: name, atLeast, value, met: value >= atLeast }] : [];
}

/** The results table followed by whichever of the summary tables have rows. */
export function formatSummary(results: readonly BenchResult[], summary: Summary): string {
  const sections = [formatResults(results)];
  if (summary.ratios.length > 0) {
    const title = 'midge relative to peers (rate: >1 is better; latency, memory, cpu: <1 is better)';
    sections.push(`${title}\n${formatRatios(summary.ratios)}`);
  }
  if (summary.durability.length > 0) {
    const rows = summary.durability.map((d) => [d.broker, d.durable, d.memory, fmt(d.ratio, 2)]);
    const table = renderTable(['broker', 'durable', 'in-memory', 'ratio'], rows);
    sections.push(`durable rate / in-memory rate, per broker\n${table}`);
  }
  if (summary.targets.length > 0) {
    const rows = summary.targets.map((t) => [t.target, fmt(t.value, 2), `≥ ${t.atLeast}`, t.met ? 'met' : 'MISSED']);
    sections.push(`durability targets\n${renderTable(['target', 'value', 'goal', ''], rows)}`);
  }
  const isolation = formatIsolation(results);
  if (isolation !== undefined) sections.push(isolation);
  const commits = formatCommits(results);
  if (commits !== undefined) sections.push(commits);
  return sections.join('\n\n');
}

/** The isolation scenarios' figures: the healthy subscribers' rate alone and beside a stalled subscriber. */
function formatIsolation(results: readonly BenchResult[]): string | undefined {
  const measured = results.filter((r) => r.metrics?.extra?.['isolationRatio'] !== undefined);
  if (measured.length === 0) return undefined;
  const rows = measured.map((r) => {
    const x = r.metrics?.extra ?? {};
    return [r.scenario, r.broker, fmt(x['aloneRate'], 0), fmt(r.metrics?.rate, 0), fmt(x['isolationRatio'], 2), x['isolationRatio'] !== undefined && x['isolationRatio'] >= 0.9 ? 'met' : 'MISSED'];
  });
  const table = renderTable(['scenario', 'broker', 'healthy alone', 'beside a stalled one', 'ratio', '≥ 0.9'], rows);
  return `isolation: healthy subscribers' deliveries/s without and with one stalled subscriber on the same topics\n${table}`;
}

/** The group-commit figures of scenarios that report them (durable-commit), if any. */
function formatCommits(results: readonly BenchResult[]): string | undefined {
  const measured = results.filter((r) => r.metrics?.extra?.['commits'] !== undefined);
  if (measured.length === 0) return undefined;
  const header = [
    'scenario', 'broker', 'msg/s', 'commits/s', 'ops/commit', 'msgs/commit', 'max ops/commit', 'commit ms',
    'acks/commit', 'ack wait p50', 'p99', 'max ms', 'errors',
  ];
  const rows = measured.map((r) => {
    const x = r.metrics?.extra ?? {};
    return [
      r.scenario, r.broker, fmt(r.metrics?.rate, 0), fmt(x['commitsPerSecond'], 0), fmt(x['operationsPerCommit'], 1),
      fmt(x['messagesPerCommit'], 1), fmt(x['maxOperationsPerCommit'], 0), fmt(x['meanCommitMs'], 2),
      fmt(x['flushesPerCommit'], 1), fmt(x['flushWaitP50Ms'], 2), fmt(x['flushWaitP99Ms'], 2),
      fmt(x['flushWaitMaxMs'], 2), fmt(x['commitErrors'], 0),
    ];
  });
  const note =
    'store commits in the measured window (max ops/commit: whole run; commit ms: mean of LevelStore.stats;\n' +
    'ack wait: from flush() to its commit, i.e. how long a held PUBACK waited for the disk)';
  return `${note}\n${renderTable(header, rows)}`;
}
