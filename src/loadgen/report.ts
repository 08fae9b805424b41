import type { BenchRun } from './args.js';
import { endpointUrl } from './endpoint.js';
import type { ScenarioMetrics } from './metrics.js';
import type { SequenceCounts } from './sequence.js';
import { fmt, renderTable } from './table.js';

/** Per-publisher rows shown when some publisher had a problem; the JSON output has them all. */
const MAX_PUBLISHER_ROWS = 20;

/** The outcome of one `midge bench` run, as printed with --json. */
export interface BenchReport {
  tool: 'midge bench';
  url: string;
  scenario: string;
  load: string;
  settings: { durationMs: number; warmupMs: number; payloadSize: number; topicRoot: string } & BenchRun['shape'];
  metrics: ScenarioMetrics;
  passed: boolean;
  problems: string[];
}

/** Gathers what a run measured into a report. */
export function buildReport(run: BenchRun, metrics: ScenarioMetrics, problems: string[]): BenchReport {
  const { durationMs, warmupMs, payloadSize, topicRoot, shape } = run;
  return {
    tool: 'midge bench',
    url: endpointUrl(run.endpoint),
    scenario: run.scenario.name,
    load: run.scenario.describe(shape),
    settings: { durationMs, warmupMs, payloadSize, topicRoot, ...shape },
    metrics,
    passed: problems.length === 0,
    problems,
  };
}

/** The report as JSON; NaN and infinities become null. */
export function reportJson(report: BenchReport): string {
  const finite = (_key: string, value: unknown): unknown =>
    typeof value === 'number' && !Number.isFinite(value) ? null : value;
  return JSON.stringify(report, finite, 2);
}

/** The report as a two-column summary, per-publisher rows when something went wrong, and the verdict. */
export function reportText(report: BenchReport): string {
  const m = report.metrics;
  const rows: string[][] = [
    ['broker', report.url],
    ['scenario', `${report.scenario}: ${report.load}`],
    ['measured', measuredText(report)],
  ];
  const add = (label: string, value: string | undefined): void => {
    if (value !== undefined) rows.push([label, value]);
  };
  add('rate', m.rate === undefined ? undefined : `${fmt(m.rate, 0)} ${m.unit ?? ''}`);
  add(m.unit === 'connections/s' ? 'CONNACK time' : 'latency', latencyText(m));
  add('opened', m.extra?.['opened'] === undefined ? undefined : `${fmt(m.extra['opened'], 0)} of ${fmt(m.extra['connections'], 0)}, ${fmt(m.extra['stillOpen'], 0)} still open at the end`);
  add('sent', m.sent === undefined ? undefined : fmt(m.sent, 0));
  add('stalls', (m.stalls ?? 0) === 0 ? undefined : `${fmt(m.stalls, 0)} (a publisher's window written off after 1 s without a delivery)`);
  if (m.counts !== undefined) rows.push(...countRows(m.counts));
  add('broker cpu', m.cpuUsPerMsg === undefined ? undefined : `${fmt(m.cpuUsPerMsg, 2)} µs per ${m.unit === 'connections/s' ? 'connection' : 'message'}`);
  add('broker rss', m.brokerRssMb === undefined ? undefined : `${fmt(m.brokerRssMb, 1)} MB`);
  add('rss per 1k', m.mbPer1k === undefined ? undefined : `${fmt(m.mbPer1k, 2)} MB per 1000 connections`);
  add('load cpu', m.extra?.['loadCpuPercent'] === undefined ? undefined : `${fmt(m.extra['loadCpuPercent'], 0)}% of a core (this process)`);
  for (const note of m.notes ?? []) rows.push(['note', note]);
  const sections = [alignPairs(rows)];
  const publishers = publisherTable(m.perPublisher);
  if (publishers !== undefined && !report.passed) sections.push(publishers);
  sections.push(report.passed ? 'PASSED' : `FAILED: ${report.problems.join('; ')}`);
  return sections.join('\n\n');
}

/** How long and with what the run measured. */
function measuredText(report: BenchReport): string {
  const { durationMs, warmupMs, payloadSize } = report.settings;
  const seconds = (ms: number): string => `${fmt(ms / 1000, 1)} s`;
  if (report.metrics.unit === 'connections/s') return `connections held ${seconds(durationMs)} after opening`;
  return `${seconds(durationMs)} after ${seconds(warmupMs)} warm-up, ${payloadSize}-byte payloads`;
}

/** "p50 / p99 / max" in ms, if measured. */
function latencyText(m: ScenarioMetrics): string | undefined {
  if (m.p50Ms === undefined) return undefined;
  return `p50 ${fmt(m.p50Ms, 3)} ms, p99 ${fmt(m.p99Ms, 3)} ms, max ${fmt(m.maxMs, 3)} ms`;
}

/** Rows for the sequence verdicts. */
function countRows(c: SequenceCounts): string[][] {
  return [
    ['received', fmt(c.received, 0)],
    ['lost', fmt(c.lost, 0)],
    ['duplicated', fmt(c.duplicated, 0)],
    ['reordered', fmt(c.reordered, 0)],
    ['unexpected', fmt(c.unexpected, 0)],
  ];
}

/** Publishers with a problem, first MAX_PUBLISHER_ROWS of them. */
function publisherTable(perPublisher: readonly SequenceCounts[] | undefined): string | undefined {
  if (perPublisher === undefined) return undefined;
  const bad = perPublisher
    .map((c, index) => ({ c, index }))
    .filter(({ c }) => c.lost + c.duplicated + c.reordered + c.unexpected > 0);
  if (bad.length === 0) return undefined;
  const rows = bad.slice(0, MAX_PUBLISHER_ROWS).map(({ c, index }) => [
    String(index), fmt(c.received, 0), fmt(c.lost, 0), fmt(c.duplicated, 0), fmt(c.reordered, 0), fmt(c.unexpected, 0),
  ]);
  const more = bad.length > MAX_PUBLISHER_ROWS ? `\n… and ${bad.length - MAX_PUBLISHER_ROWS} more (see --json)` : '';
  return `${renderTable(['publisher', 'received', 'lost', 'dup', 'reord', 'unexpected'], rows)}${more}`;
}

/** Label/value pairs with the labels padded to one width. */
function alignPairs(rows: readonly string[][]): string {
  const width = Math.max(...rows.map((row) => (row[0] ?? '').length));
  return rows.map(([label = '', value = '']) => `${label.padEnd(width)}  ${value}`).join('\n');
}
