import { parseArgs } from 'node:util';
import { BROKER_NAMES } from './brokers.js';
import { HEADER_BYTES } from '../src/loadgen/payload.js';
import { SCENARIOS } from './scenarios.js';

/** Settings of one benchmark run. */
export interface BenchOptions {
  scenarios: string[];
  brokers: string[];
  durationMs: number;
  warmupMs: number;
  payloadSize: number;
  /** Run the cluster benchmark (bench/cluster.ts) afterwards: with --scenario all, unless --skip-cluster. */
  cluster: boolean;
  /** Extra JSON output file besides bench/results/latest.json. */
  jsonFile: string | undefined;
  help: boolean;
}

/** Usage text for --help and errors. */
export const USAGE = `usage: node dist/bench/run.js [options]
  --scenario NAME|all   ${SCENARIOS.map((s) => s.name).join(', ')} or a comma list (default all)
  --brokers LIST        comma list of ${BROKER_NAMES.join(', ')} (default all; unavailable ones are skipped)
  --duration S          measured seconds per throughput/latency scenario (default 5)
  --warmup S            warm-up seconds before measuring (default 1)
  --payload BYTES       payload size, at least ${HEADER_BYTES} (default 64)
  --json FILE           also write the JSON results to FILE
  --skip-cluster        with --scenario all, do not run the cluster benchmark (bench/cluster.ts) afterwards
  --help`;

/** Parses and validates command-line arguments. */
export function parseOptions(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      scenario: { type: 'string', default: 'all' },
      brokers: { type: 'string', default: BROKER_NAMES.join(',') },
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      payload: { type: 'string', default: '64' },
      json: { type: 'string' },
      'skip-cluster': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  return {
    scenarios: pickList('scenario', values.scenario, SCENARIOS.map((s) => s.name)),
    brokers: pickList('brokers', values.brokers, BROKER_NAMES),
    durationMs: seconds('duration', values.duration, 0.5, 600) * 1000,
    warmupMs: seconds('warmup', values.warmup, 0, 60) * 1000,
    payloadSize: integer('payload', values.payload, HEADER_BYTES, 256 * 1024),
    jsonFile: values.json,
    cluster: values.scenario === 'all' && values['skip-cluster'] !== true,
    help: values.help,
  };
}

/** A comma list checked against `known`; "all" means every known name. */
function pickList(flag: string, value: string, known: readonly string[]): string[] {
  if (value === 'all') return [...known];
  const names = value.split(',').map((name) => name.trim()).filter((name) => name !== '');
  const unknown = names.filter((name) => !known.includes(name));
  if (unknown.length > 0 || names.length === 0) {
    throw new Error(`--${flag}: unknown ${unknown.join(', ') || '(empty)'}; known: ${known.join(', ')}`);
  }
  return names;
}

/** A number of seconds within [min, max]. */
function seconds(flag: string, value: string, min: number, max: number): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
    throw new Error(`--${flag} must be a number of seconds between ${min} and ${max}`);
  }
  return parsed;
}

/** An integer within [min, max]. */
function integer(flag: string, value: string, min: number, max: number): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new Error(`--${flag} must be an integer between ${min} and ${max}`);
  }
  return parsed;
}
