import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseEndpoint } from './endpoint.js';
import type { Endpoint } from './endpoint.js';
import { HEADER_BYTES } from './payload.js';
import { defaultWindow, findLoadScenario, LOAD_SCENARIOS } from './scenarios.js';
import type { LoadScenario, LoadShape } from './scenarios.js';

/** A bad `midge bench` command line; the CLI prints its message on one line and exits 2. */
export class BenchUsageError extends Error {
  override readonly name = 'BenchUsageError';
}

/** What a `midge bench` command line asks for. */
export type BenchCommand = { kind: 'help' } | ({ kind: 'run' } & BenchRun);

/** Everything one `midge bench` run needs. */
export interface BenchRun {
  endpoint: Endpoint;
  scenario: LoadScenario;
  shape: LoadShape;
  durationMs: number;
  warmupMs: number;
  payloadSize: number;
  topicRoot: string;
  clientIdPrefix: string;
  username: string | undefined;
  password: string | undefined;
  /** Process id of a broker on this machine, for CPU per message and RSS from /proc. */
  pid: number | undefined;
  json: boolean;
}

const STRING_FLAGS = [
  'url', 'scenario', 'duration', 'warmup', 'payload', 'publishers', 'subscribers', 'window', 'rate',
  'connections', 'concurrency', 'topic', 'client-id', 'username', 'password', 'pid', 'ca',
] as const;
type StringFlag = (typeof STRING_FLAGS)[number];
type FlagValues = Partial<Record<StringFlag, string>> & { json?: boolean; help?: boolean; insecure?: boolean };

/** Usage text of `midge bench --help`. */
export const BENCH_USAGE = `Usage: midge bench [--url mqtt://127.0.0.1:1883] [--scenario fanin-qos1] [options]
Load and loss checker for any MQTT 3.1.1 broker. Every payload carries its publisher's sequence
number; subscribers report lost, duplicated and reordered messages. Exit status: 0 when the run
passed, 1 when it found a problem (see README), 2 for a bad command line.

  --url URL            mqtt://host[:port] (or tcp://), mqtts://, ws://host[:port]/path or wss://
                       (default mqtt://127.0.0.1:1883)
  --scenario NAME      default fanin-qos1; one of:
${LOAD_SCENARIOS.map((s) => `                         ${s.name.padEnd(12)} ${s.summary}`).join('\n')}
  --duration S         measured seconds (default 10)
  --warmup S           seconds of load before measuring (default 1)
  --payload BYTES      payload size, at least ${HEADER_BYTES} (default 64)
  --publishers N       publishers (default: the scenario's)
  --subscribers N      subscribers, each receiving every message (default: the scenario's)
  --window N           messages per publisher on their way to subscribers (default min(200, 1000 / publishers))
  --rate N             latency: messages per second (default 1000)
  --connections N      connections: how many to open and hold (default 1000)
  --concurrency N      connections: handshakes in progress at once (default 100)
  --topic ROOT         topic root; subscribers use ROOT/# (default midge-bench/<random>)
  --client-id PREFIX   client id prefix (default mb-<random>-)
  --username U         CONNECT user name
  --password P         CONNECT password (needs --username)
  --ca FILE            mqtts/wss: trust the CA certificates in this PEM file (default: the system's)
  --insecure           mqtts/wss: accept any server certificate
  --pid PID            a broker process on this machine: adds its CPU µs per message and RSS
  --json               print the result as JSON instead of a table
  -h, --help           show this help`;

/** Parses `midge bench` arguments (those after "bench"). */
export function parseBenchArgs(argv: string[]): BenchCommand {
  const values = parseFlags(argv);
  if (values.help === true) return { kind: 'help' };
  const scenario = findLoadScenario(values.scenario ?? 'fanin-qos1');
  if (scenario === undefined) {
    const known = LOAD_SCENARIOS.map((s) => s.name).join(', ');
    throw new BenchUsageError(`--scenario: unknown "${values.scenario ?? ''}"; known: ${known}`);
  }
  if (values.password !== undefined && values.username === undefined) {
    throw new BenchUsageError('--password needs --username (MQTT 3.1.1 allows no password without a user name)');
  }
  const run = randomBytes(4).toString('hex');
  return {
    kind: 'run',
    endpoint: endpoint(values.url ?? 'mqtt://127.0.0.1:1883', values.ca, values.insecure === true),
    scenario,
    shape: shapeOf(scenario, values),
    durationMs: seconds('duration', values.duration ?? '10', 0.1, 86_400) * 1000,
    warmupMs: seconds('warmup', values.warmup ?? '1', 0, 3600) * 1000,
    payloadSize: integer('payload', values.payload, HEADER_BYTES, 256 * 1024) ?? 64,
    topicRoot: topicRoot(values.topic ?? `midge-bench/${run}`),
    clientIdPrefix: values['client-id'] ?? `mb-${run}-`,
    username: values.username,
    password: values.password,
    pid: integer('pid', values.pid, 1, 2 ** 22),
    json: values.json === true,
  };
}

/** The raw flag values. */
function parseFlags(argv: string[]): FlagValues {
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(STRING_FLAGS.map((flag) => [flag, { type: 'string' as const }])),
        json: { type: 'boolean' },
        insecure: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    return values as FlagValues;
  } catch (err) {
    throw new BenchUsageError(`${err instanceof Error ? err.message : String(err)} (see midge bench --help)`);
  }
}

/** The scenario's shape with the flags that override it. */
function shapeOf(scenario: LoadScenario, values: FlagValues): LoadShape {
  const d = scenario.defaults;
  const fixed = scenario.name === 'latency' || scenario.name === 'connections';
  if (fixed && (values.publishers !== undefined || values.subscribers !== undefined)) {
    throw new BenchUsageError(`--publishers and --subscribers do not apply to the ${scenario.name} scenario`);
  }
  const publishers = integer('publishers', values.publishers, 1, 10_000) ?? d.publishers;
  return {
    publishers,
    subscribers: integer('subscribers', values.subscribers, 1, 10_000) ?? d.subscribers,
    window: integer('window', values.window, 1, 1_000_000) ?? defaultWindow(publishers),
    rate: integer('rate', values.rate, 1, 1_000_000) ?? d.rate,
    connections: integer('connections', values.connections, 1, 1_000_000) ?? d.connections,
    concurrency: integer('concurrency', values.concurrency, 1, 10_000) ?? d.concurrency,
  };
}

/** The --url value as an endpoint, with --ca and --insecure for a TLS URL. */
function endpoint(text: string, caFile: string | undefined, insecure: boolean): Endpoint {
  let parsed: Endpoint;
  try {
    parsed = parseEndpoint(text);
  } catch (err) {
    throw new BenchUsageError(err instanceof Error ? err.message : String(err));
  }
  if (parsed.tls === undefined) {
    if (caFile !== undefined || insecure) throw new BenchUsageError('--ca and --insecure need an mqtts:// or wss:// URL');
    return parsed;
  }
  return { ...parsed, tls: { rejectUnauthorized: !insecure, ...(caFile === undefined ? {} : { ca: readCa(caFile) }) } };
}

/** The contents of a --ca file. */
function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new BenchUsageError(`--ca: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** A topic root without wildcards, so `<root>/#` is a valid filter. */
function topicRoot(root: string): string {
  if (root === '' || /[#+\u0000]/.test(root) || root.endsWith('/')) {
    throw new BenchUsageError(`--topic must be a topic name without wildcards or a trailing "/", got "${root}"`);
  }
  return root;
}

/** A number of seconds within [min, max]. */
function seconds(flag: string, value: string, min: number, max: number): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed < min || parsed > max) {
    throw new BenchUsageError(`--${flag} must be a number of seconds from ${min} to ${max}, got "${value}"`);
  }
  return parsed;
}

/** An integer within [min, max], or undefined when the flag is absent. */
function integer(flag: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!/^\d+$/.test(value) || parsed < min || parsed > max) {
    throw new BenchUsageError(`--${flag} must be an integer from ${min} to ${max}, got "${value}"`);
  }
  return parsed;
}
