import { describe, expect, it } from 'vitest';
import type { BenchResult } from '../../bench/report.js';
import { chartGroups, renderChart } from '../../bench/svg.js';
import { problems } from '../../src/loadgen/verdict.js';

/** A throughput result. */
function rate(scenario: string, broker: string, value: number): BenchResult {
  return { scenario, broker, metrics: { rate: value, unit: 'msg/s' } };
}

const RESULTS: BenchResult[] = [
  rate('fanin-qos0', 'midge', 120_000),
  rate('fanin-qos0', 'aedes', 75_000),
  rate('fanin-qos0', 'mosquitto', 100_000),
  rate('fanin-qos1', 'midge', 60_000),
  rate('fanin-qos1', 'aedes', 40_000),
  { scenario: 'fanin-qos1', broker: 'mosquitto', error: 'crashed' },
  { scenario: 'latency', broker: 'midge', metrics: { p50Ms: 0.2, p99Ms: 1 } },
  { scenario: 'latency', broker: 'aedes', metrics: { p50Ms: 0.25, p99Ms: 2 } },
  { scenario: 'latency', broker: 'mosquitto', metrics: { p50Ms: 0.1, p99Ms: 0.2 } },
  { scenario: 'idle', broker: 'midge', metrics: { mbPer1k: 5 } },
  { scenario: 'idle', broker: 'mosquitto', metrics: { mbPer1k: 0.5 } },
  rate('durable-commit', 'midge', 30_000),
  { scenario: 'fanout-qos0', broker: 'midge', metrics: { rate: 1e6, unit: 'deliveries/s' } },
  { scenario: 'fanout-qos0', broker: 'mosquitto', metrics: { rate: 200_000, unit: 'deliveries/s' } },
];

/**
 * Checks that `text` is well-formed XML of the subset the renderer writes: balanced, properly
 * nested elements, quoted attributes, escaped text. Returns the element names in document order.
 */
function parseXml(text: string): string[] {
  const names: string[] = [];
  const open: string[] = [];
  const token = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<&]*(?:&(?:amp|lt|gt|quot);[^"<&]*)*")*)\s*(\/?)>|([^<]+)/gy;
  let match: RegExpExecArray | null;
  let consumed = 0;
  while ((match = token.exec(text)) !== null) {
    consumed = token.lastIndex;
    const [, closing, name, , selfClosing, content] = match;
    if (content !== undefined) {
      expect(content, 'text may only contain escaped ampersands').not.toMatch(/&(?!(amp|lt|gt|quot);)/);
      continue;
    }
    if (closing === '/') {
      expect(open.pop(), `closing </${name}>`).toBe(name);
    } else {
      names.push(name ?? '');
      if (selfClosing !== '/') open.push(name ?? '');
    }
  }
  expect(consumed, `unparsable XML at: ${text.slice(consumed, consumed + 80)}`).toBe(text.length);
  expect(open).toEqual([]);
  return names;
}

describe('side-by-side chart', () => {
  it('(the XML check itself rejects unbalanced tags, unquoted attributes and raw ampersands)', () => {
    expect(() => parseXml('<svg><g></svg>')).toThrow();
    expect(() => parseXml('<svg width=3></svg>')).toThrow();
    expect(() => parseXml('<svg>a & b</svg>')).toThrow();
    expect(parseXml('<svg a="1"><g/><text>a &amp; b</text></svg>')).toEqual(['svg', 'g', 'text']);
  });

  it('is one well-formed SVG document', () => {
    const names = parseXml(renderChart(RESULTS, 'test run & <notes>'));
    expect(names[0]).toBe('svg');
    expect(renderChart(RESULTS, 'x')).toContain('xmlns="http://www.w3.org/2000/svg"');
  });

  it('draws one bar per broker and charted scenario metric, measured against Mosquitto, else aedes', () => {
    const svg = renderChart(RESULTS, '');
    const bars = [...svg.matchAll(/<rect class="bar" data-broker="([^"]+)" data-scenario="([^"]+)" data-label="([^"]+)"/g)].map(
      (m) => `${m[3]}:${m[1]}`,
    );
    expect(bars).toEqual([
      'fanin-qos0:midge', 'fanin-qos0:aedes', 'fanin-qos0:mosquitto',
      'fanin-qos1:midge', 'fanin-qos1:aedes',
      'latency p50:midge', 'latency p50:aedes', 'latency p50:mosquitto',
      'latency p99:midge', 'latency p99:aedes', 'latency p99:mosquitto',
      'idle MB/1k conn:midge', 'idle MB/1k conn:mosquitto',
      'fanout-qos0:midge', 'fanout-qos0:mosquitto',
    ]);
  });

  it('computes factors so that above 1 is better: rate ÷ reference, reference ÷ latency or memory', () => {
    const groups = chartGroups(RESULTS);
    const factor = (label: string, broker: string): number | undefined =>
      groups.find((g) => g.label === label)?.bars.find((b) => b.broker === broker)?.factor;
    expect(factor('fanin-qos0', 'midge')).toBeCloseTo(1.2);
    expect(groups.find((g) => g.label === 'fanin-qos1')?.reference).toBe('aedes');
    expect(factor('fanin-qos1', 'midge')).toBeCloseTo(1.5);
    expect(factor('latency p50', 'midge')).toBeCloseTo(0.5);
    expect(factor('idle MB/1k conn', 'midge')).toBeCloseTo(0.1);
    expect(factor('fanout-qos0', 'mosquitto')).toBe(1);
  });
});

describe('midge bench verdict', () => {
  const counts = { received: 100, lost: 0, duplicated: 0, reordered: 0, unexpected: 0 };

  it('passes a clean run', () => {
    expect(problems({ qos: 1, counts })).toEqual([]);
  });

  it('fails on loss at QoS 1 and 2 but only reports it at QoS 0', () => {
    expect(problems({ qos: 1, counts: { ...counts, lost: 3 } })).toEqual(['3 message(s) lost at QoS 1']);
    expect(problems({ qos: 2, counts: { ...counts, lost: 1 } })).toHaveLength(1);
    expect(problems({ qos: 0, counts: { ...counts, lost: 3 } })).toEqual([]);
  });

  it('fails on duplicates, reordering and unexpected messages at any QoS', () => {
    expect(problems({ qos: 0, counts: { ...counts, duplicated: 1, reordered: 2, unexpected: 3 } })).toHaveLength(3);
  });

  it('fails when nothing arrived, a connection failed to open or one was lost', () => {
    expect(problems({ qos: 0, counts: { ...counts, received: 0 } })).toEqual(['no message was delivered']);
    expect(problems({ connectFailures: 2 })).toEqual(['2 connection(s) failed to open']);
    expect(problems({ connectionsLost: 1 })).toEqual(['1 connection(s) lost during the run']);
  });
});
