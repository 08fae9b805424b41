/**
 * Renders the SVG chart of a results file written by `npm run bench`:
 * node dist/bench/chart.js [--in bench/results/latest.json] [--out bench/results/latest.svg]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from './brokers.js';
import type { BenchResult } from './report.js';
import { chartSubtitle, renderChart } from './svg.js';

/** The parts of a results document the chart reads. */
interface ResultsDocument {
  generatedAt?: string;
  machine?: Record<string, string | number>;
  options?: { durationMs?: number; payloadSize?: number };
  results: BenchResult[];
}

/** Reads the results file, renders it and writes the SVG. */
function main(): void {
  const { values } = parseArgs({
    options: {
      in: { type: 'string', default: path.join(repoRoot(), 'bench/results/latest.json') },
      out: { type: 'string', default: path.join(repoRoot(), 'bench/results/latest.svg') },
    },
  });
  const document = JSON.parse(readFileSync(values.in, 'utf8')) as ResultsDocument;
  if (!Array.isArray(document.results)) throw new Error(`${values.in} has no "results" array`);
  writeFileSync(values.out, renderChart(document.results, chartSubtitle(document)));
  console.log(`chart written to ${values.out}`);
}

try {
  main();
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
}
