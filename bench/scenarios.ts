import type { QoS } from '../src/loadgen/client.js';
import { runConnections } from '../src/loadgen/connections.js';
import { runLatency } from '../src/loadgen/latency.js';
import { defaultShape, findLoadScenario, throughputSpec } from '../src/loadgen/scenarios.js';
import type { LoadShape } from '../src/loadgen/scenarios.js';
import { runThroughput } from '../src/loadgen/throughput.js';
import { runIsolation } from '../src/loadgen/isolation.js';
import { runCommit } from './commit.js';
import { runIdle, runStartup } from './idle.js';
import type { RunContext, Scenario, ScenarioMetrics } from './scenario.js';

/** The default shape of `midge bench`'s scenario `name` (10 → 1 for fan-in, 1 → 50 for fan-out). */
function shape(name: string): LoadShape {
  const scenario = findLoadScenario(name);
  if (scenario === undefined) throw new Error(`no midge bench scenario ${name}`);
  return defaultShape(scenario);
}

/** Connections the `connections` scenario opens in the side-by-side run. */
const CONNECTIONS = 15_000;

/** `midge bench`'s fan-in scenario at `qos`; a `persistent` subscriber keeps its session (clean session false). */
function fanin(qos: QoS, persistent = false): (context: RunContext) => Promise<ScenarioMetrics> {
  const spec = throughputSpec(qos, shape('fanin-qos1'), persistent);
  return (context) => runThroughput(spec, context);
}

/**
 * Every scenario, in the order a full run executes them. The load shapes are those of `midge
 * bench` (src/loadgen/scenarios.ts), so a comparison row can be reproduced against any broker with
 * `midge bench --scenario <name>`.
 */
export const SCENARIOS: readonly Scenario[] = Object.freeze([
  { name: 'fanin-qos0', mode: 'memory', description: '10 publishers → 1 subscriber, QoS 0', run: fanin(0) },
  { name: 'fanin-qos1', mode: 'memory', description: '10 publishers → 1 subscriber, QoS 1', run: fanin(1) },
  { name: 'fanin-qos2', mode: 'memory', description: '10 publishers → 1 subscriber, QoS 2', run: fanin(2) },
  {
    name: 'durable-fanin-qos1',
    mode: 'durable',
    description: '10 publishers → 1 persistent-session subscriber, QoS 1, durable store',
    run: fanin(1, true),
  },
  {
    name: 'durable-fanin-qos2',
    mode: 'durable',
    description: '10 publishers → 1 persistent-session subscriber, QoS 2, durable store',
    run: fanin(2, true),
  },
  {
    name: 'durable-commit',
    mode: 'instrumented',
    description: 'durable-fanin-qos1 against Midge with its LevelStore group-commit figures (Midge only)',
    run: (context) => runCommit(throughputSpec(1, shape('fanin-qos1'), true), context),
  },
  {
    name: 'fanout-qos0',
    mode: 'memory',
    description: '1 publisher → 50 subscribers, QoS 0 (deliveries/s)',
    run: (context) => runThroughput(throughputSpec(0, shape('fanout-qos0')), context),
  },
  {
    name: 'isolation-qos0',
    mode: 'memory',
    description: '4 publishers → 4 subscribers, QoS 0, then again beside 1 subscriber that stopped reading: healthy rate ratio',
    run: (context) => runIsolation(throughputSpec(0, shape('isolation-qos0')), context),
  },
  {
    name: 'isolation-qos1',
    mode: 'memory',
    description: '4 publishers → 4 subscribers, QoS 1, then again beside 1 subscriber that stopped reading: healthy rate ratio',
    run: (context) => runIsolation(throughputSpec(1, shape('isolation-qos1')), context),
  },
  {
    name: 'latency',
    mode: 'memory',
    description: '1000 msg/s QoS 0, 1 publisher → 1 subscriber, one-way p50/p99',
    run: (context) => runLatency(1000, context),
  },
  {
    name: 'durable-latency-qos1',
    mode: 'durable',
    description: '1000 msg/s QoS 1, 1 publisher → 1 persistent-session subscriber, durable store, one-way p50/p99',
    run: (context) => runLatency(1000, context, { qos: 1, persistent: true }),
  },
  {
    name: 'startup',
    mode: 'default',
    description: 'broker RSS 3 s after start, before any connection, with its default options',
    run: runStartup,
  },
  {
    name: 'idle',
    mode: 'memory',
    description: '5000 idle connections (keepalive 60), broker RSS growth per 1k',
    run: (context) => runIdle(5000, context),
  },
  {
    name: 'idle-durable',
    mode: 'durable',
    description: '5000 idle connections (keepalive 60), each broker with its disk persistence on, broker RSS growth per 1k',
    run: (context) => runIdle(5000, context),
  },
  {
    name: 'connections',
    mode: 'memory',
    description: `${CONNECTIONS} connections opened (100 handshakes at a time) and held; connect rate, failures`,
    run: (context) => runConnections({ connections: CONNECTIONS, concurrency: 100, keepalive: 60 }, context),
  },
]);

/** The scenario called `name`, if any. */
export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((scenario) => scenario.name === name);
}
