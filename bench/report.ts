import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ScenarioMetrics } from '../src/loadgen/metrics.js';
import { ratio } from '../src/loadgen/stats.js';
import { fmt, renderTable } from '../src/loadgen/table.js';

export { fmt, renderTable };

/** Outcome of one scenario against one broker. */
export interface BenchResult {
  scenario: string;
  broker: string;
  metrics?: ScenarioMetrics;
  error?: string;
}

/** midge divided by a peer for one metric of one scenario. */
export interface RatioRow {
  scenario: string;
  metric: keyof ScenarioMetrics;
  /** Which direction is good for midge. */
  better: 'higher' | 'lower';
  /** Keyed by "midge/<peer>". */
  ratios: Record<string, number>;
}

/** Metrics compared between brokers whenever a scenario reports them. */
const COMPARED: ReadonlyArray<{ metric: keyof ScenarioMetrics; better: 'higher' | 'lower' }> = [
  { metric: 'rate', better: 'higher' },
  { metric: 'p50Ms', better: 'lower' },
  { metric: 'p99Ms', better: 'lower' },
  { metric: 'mbPer1k', better: 'lower' },
  { metric: 'cpuUsPerMsg', better: 'lower' },
  { metric: 'brokerRssMb', better: 'lower' },
];

/** midge/peer ratios for every scenario where midge and the peer both produced metrics. */
export function computeRatios(results: readonly BenchResult[]): RatioRow[] {
  const rows: RatioRow[] = [];
  for (const midge of results.filter((r) => r.broker === 'midge' && r.metrics !== undefined)) {
    const peers = results.filter(
      (r) => r.scenario === midge.scenario && r.broker !== 'midge' && r.metrics !== undefined,
    );
    const own = midge.metrics ?? {};
    for (const { metric, better } of COMPARED) {
      if (own[metric] === undefined || peers.length === 0) continue;
      const ratios: Record<string, number> = {};
      for (const peer of peers) {
        ratios[`midge/${peer.broker}`] = ratio(numeric(own[metric]), numeric(peer.metrics?.[metric]));
      }
      rows.push({ scenario: midge.scenario, metric, better, ratios });
    }
  }
  return rows;
}

/** The results as a fixed-width table, one row per scenario and broker. */
export function formatResults(results: readonly BenchResult[]): string {
  const header = [
    'scenario', 'broker', 'rate', 'unit', 'p50 ms', 'p99 ms', 'MB/1k conn', 'cpu µs/msg', 'rss MB',
    'sent', 'lost', 'dup', 'reord', 'notes',
  ];
  const rows = results.map((r) => {
    const m = r.metrics ?? {};
    const c = m.counts;
    const notes =
      r.error !== undefined ? `ERROR: ${r.error.split('\n')[0] ?? ''}` : [...(m.notes ?? []), stallNote(m)].join(' ');
    return [
      r.scenario, r.broker, fmt(m.rate, 0), m.unit ?? '', fmt(m.p50Ms, 3), fmt(m.p99Ms, 3), fmt(m.mbPer1k, 2),
      fmt(m.cpuUsPerMsg, 1), fmt(m.brokerRssMb, 1), fmt(m.sent, 0), fmt(c?.lost, 0), fmt(c?.duplicated, 0),
      fmt(c?.reordered, 0), notes.trim(),
    ];
  });
  return renderTable(header, rows);
}

/** The ratio rows as a table with one column per midge/peer pair. */
export function formatRatios(rows: readonly RatioRow[]): string {
  const pairs = [...new Set(rows.flatMap((row) => Object.keys(row.ratios)))];
  const header = ['scenario', 'metric', 'better', ...pairs];
  const body = rows.map((row) => [
    row.scenario, row.metric, row.better, ...pairs.map((pair) => fmt(row.ratios[pair], 2)),
  ]);
  return renderTable(header, body);
}

/** Writes `document` as pretty JSON, creating the directory if needed. */
export function writeJson(file: string, document: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const finite = (_key: string, value: unknown): unknown =>
    typeof value === 'number' && !Number.isFinite(value) ? null : value;
  writeFileSync(file, `${JSON.stringify(document, finite, 2)}\n`);
}

/** A metric value as a number, if it is one. */
function numeric(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

/** A note when publishers had to write off stalled deliveries. */
function stallNote(metrics: ScenarioMetrics): string {
  return metrics.stalls !== undefined && metrics.stalls > 0 ? `${metrics.stalls} stall(s)` : '';
}
