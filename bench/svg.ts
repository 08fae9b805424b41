import type { ScenarioMetrics } from '../src/loadgen/metrics.js';
import { fmt } from '../src/loadgen/table.js';
import type { BenchResult } from './report.js';

/** One group of bars: one metric of one scenario, each broker's value relative to the reference broker. */
export interface ChartGroup {
  scenario: string;
  label: string;
  reference: string;
  bars: ChartBar[];
}

/** One broker's bar: `factor` > 1 means better than the reference, whichever way the metric points. */
export interface ChartBar {
  broker: string;
  value: number;
  unit: string;
  factor: number;
}

/** A metric the chart can show and which direction is better. */
interface Charted {
  metric: 'rate' | 'p50Ms' | 'p99Ms' | 'mbPer1k';
  label: (scenario: string) => string;
  unit: (m: ScenarioMetrics) => string;
  better: 'higher' | 'lower';
}

const CHARTED: readonly Charted[] = [
  { metric: 'rate', label: (s) => s, unit: (m) => m.unit ?? '', better: 'higher' },
  { metric: 'p50Ms', label: (s) => (s === 'latency' ? 'latency p50' : `${s} p50`), unit: () => 'ms', better: 'lower' },
  { metric: 'p99Ms', label: (s) => (s === 'latency' ? 'latency p99' : `${s} p99`), unit: () => 'ms', better: 'lower' },
  { metric: 'mbPer1k', label: (s) => `${s} MB/1k conn`, unit: () => 'MB/1k', better: 'lower' },
];

/** Brokers the bars are measured against, in order of preference. */
const REFERENCES = ['mosquitto', 'aedes'];
const COLORS: Readonly<Record<string, string>> = { midge: '#2a9d8f', aedes: '#e9a23b', mosquitto: '#6c757d' };
const FALLBACK_COLOR = '#8e7dbe';

/** Layout, in SVG user units (px). */
const BAR_WIDTH = 26;
const BAR_GAP = 4;
const GROUP_GAP = 34;
const PLOT_TOP = 70;
const PLOT_HEIGHT = 320;
const LEFT = 64;
const BOTTOM = 95;

/**
 * Groups for every scenario metric where a reference broker (Mosquitto, else aedes) and at least
 * one other broker have a value. Only the rate is charted for throughput and connection scenarios,
 * p50 and p99 for latency, and RSS per 1000 connections for idle.
 */
export function chartGroups(results: readonly BenchResult[]): ChartGroup[] {
  const scenarios = [...new Set(results.map((r) => r.scenario))];
  const groups: ChartGroup[] = [];
  for (const scenario of scenarios) {
    const measured = results.filter((r) => r.scenario === scenario && r.metrics !== undefined);
    for (const charted of CHARTED) {
      if (charted.metric === 'p50Ms' || charted.metric === 'p99Ms') {
        if (measured.some((r) => r.metrics?.rate !== undefined)) continue;
      }
      const group = groupFor(scenario, measured, charted);
      if (group !== undefined) groups.push(group);
    }
  }
  return groups;
}

/** The group of one metric of one scenario, or undefined without a reference or a second broker. */
function groupFor(scenario: string, measured: readonly BenchResult[], charted: Charted): ChartGroup | undefined {
  const valueOf = (r: BenchResult): number | undefined => {
    const v = r.metrics?.[charted.metric];
    return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
  };
  const withValue = measured.filter((r) => valueOf(r) !== undefined);
  const reference = REFERENCES.map((name) => withValue.find((r) => r.broker === name)).find((r) => r !== undefined);
  if (reference === undefined || withValue.length < 2) return undefined;
  const ref = valueOf(reference) ?? Number.NaN;
  const bars = withValue.map((r) => {
    const value = valueOf(r) ?? Number.NaN;
    const factor = charted.better === 'higher' ? value / ref : ref / value;
    return { broker: r.broker, value, unit: charted.unit(r.metrics ?? {}), factor };
  });
  return { scenario, label: charted.label(scenario), reference: reference.broker, bars };
}

/** Escapes text for XML content and attribute values. */
function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A value with a sensible number of digits for its size. */
function short(value: number): string {
  if (value >= 1000) return fmt(value, 0);
  if (value >= 10) return fmt(value, 1);
  return fmt(value, 3);
}

/** Powers of two spanning every factor (and 1), at least ¼ … 4. */
function axisRange(groups: readonly ChartGroup[]): { min: number; max: number } {
  const logs = groups.flatMap((g) => g.bars.map((b) => Math.log2(b.factor)));
  return { min: Math.min(-2, Math.floor(Math.min(...logs))), max: Math.max(2, Math.ceil(Math.max(...logs))) };
}

/** The chart as a standalone SVG document: grouped bars on a log₂ axis around 1 (= the reference broker). */
export function renderChart(results: readonly BenchResult[], subtitle: string): string {
  const groups = chartGroups(results);
  const brokers = [...new Set(groups.flatMap((g) => g.bars.map((b) => b.broker)))];
  const { min, max } = axisRange(groups);
  const y = (factor: number): number => PLOT_TOP + ((max - Math.log2(factor)) / (max - min)) * PLOT_HEIGHT;
  const groupWidth = brokers.length * (BAR_WIDTH + BAR_GAP) - BAR_GAP;
  const width = LEFT + groups.length * (groupWidth + GROUP_GAP) + GROUP_GAP;
  const height = PLOT_TOP + PLOT_HEIGHT + BOTTOM;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="24" font-size="15" font-weight="bold">${xml('Midge side by side: each bar is a broker’s figure relative to Mosquitto (aedes where Mosquitto did not run)')}</text>`,
    `<text x="${LEFT}" y="42" fill="#444">${xml(`above 1 = better than the reference: rate ÷ reference rate; latency and memory: reference ÷ value. Log scale. ${subtitle}`)}</text>`,
    ...gridLines(min, max, y, width),
    ...groups.flatMap((group, i) => groupParts(group, brokers, LEFT + GROUP_GAP + i * (groupWidth + GROUP_GAP), y)),
    ...legend(brokers, LEFT, 58),
    '</svg>',
  ];
  return `${parts.join('\n')}\n`;
}

/** Horizontal grid lines at every power of two, the line at 1 drawn darker. */
function gridLines(min: number, max: number, y: (factor: number) => number, width: number): string[] {
  const lines: string[] = [];
  for (let power = min; power <= max; power++) {
    const factor = 2 ** power;
    const at = y(factor).toFixed(1);
    const label = power >= 0 ? `${factor}×` : `1/${2 ** -power}`;
    const stroke = power === 0 ? '#333333' : '#dddddd';
    lines.push(`<line x1="${LEFT}" y1="${at}" x2="${width - GROUP_GAP / 2}" y2="${at}" stroke="${stroke}"/>`);
    lines.push(`<text x="${LEFT - 6}" y="${at}" text-anchor="end" dominant-baseline="middle" fill="#555">${xml(label)}</text>`);
  }
  return lines;
}

/** One group: a bar per broker (from the 1 line up or down), its factor, and the group's label. */
function groupParts(group: ChartGroup, brokers: readonly string[], x0: number, y: (factor: number) => number): string[] {
  const parts: string[] = [];
  const base = y(1);
  group.bars.forEach((bar) => {
    const x = x0 + brokers.indexOf(bar.broker) * (BAR_WIDTH + BAR_GAP);
    const top = Math.min(base, y(bar.factor));
    // The reference's own bar has factor 1; a 2 px marker keeps it visible.
    const height = Math.max(2, Math.abs(y(bar.factor) - base));
    const color = COLORS[bar.broker] ?? FALLBACK_COLOR;
    const title = `${bar.broker} ${group.label}: ${short(bar.value)} ${bar.unit} (${fmt(bar.factor, 2)}× ${group.reference})`;
    parts.push(
      `<rect class="bar" data-broker="${xml(bar.broker)}" data-scenario="${xml(group.scenario)}" data-label="${xml(group.label)}" ` +
        `x="${x}" y="${top.toFixed(1)}" width="${BAR_WIDTH}" height="${height.toFixed(1)}" fill="${color}"><title>${xml(title)}</title></rect>`,
    );
    const labelY = bar.factor >= 1 ? top - 4 : top + height + 11;
    parts.push(`<text x="${x + BAR_WIDTH / 2}" y="${labelY.toFixed(1)}" text-anchor="middle" font-size="9">${xml(fmt(bar.factor, 2))}</text>`);
  });
  const centre = x0 + (brokers.length * (BAR_WIDTH + BAR_GAP) - BAR_GAP) / 2;
  const labelY = PLOT_TOP + PLOT_HEIGHT + 16;
  parts.push(
    `<text x="${centre}" y="${labelY}" text-anchor="end" transform="rotate(-35 ${centre} ${labelY})">${xml(group.label)}</text>`,
  );
  return parts;
}

/** Colour keys for the brokers. */
function legend(brokers: readonly string[], x: number, y: number): string[] {
  return brokers.flatMap((broker, i) => {
    const at = x + i * 110;
    return [
      `<rect x="${at}" y="${y - 9}" width="12" height="12" fill="${COLORS[broker] ?? FALLBACK_COLOR}"/>`,
      `<text x="${at + 17}" y="${y + 1}">${xml(broker)}</text>`,
    ];
  });
}

/** "2026-11-23, node v20.20.2, 2 × CPU model, 5 s per scenario, 64-byte payloads" from a results document. */
export function chartSubtitle(document: {
  generatedAt?: string;
  machine?: Record<string, string | number>;
  options?: { durationMs?: number; payloadSize?: number };
}): string {
  const parts = [
    document.generatedAt?.slice(0, 10),
    document.machine === undefined ? undefined : `node ${document.machine['node']}, ${document.machine['cpus']} CPUs`,
    document.options?.durationMs === undefined ? undefined : `${document.options.durationMs / 1000} s per scenario`,
    document.options?.payloadSize === undefined ? undefined : `${document.options.payloadSize}-byte payloads`,
  ];
  return parts.filter((p) => p !== undefined).join(', ');
}
