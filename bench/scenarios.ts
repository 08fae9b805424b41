import type { QoS } from './client.js';
import { runCommit } from './commit.js';
import { runIdle } from './idle.js';
import { runLatency } from './latency.js';
import type { Scenario, ScenarioContext, ScenarioMetrics } from './scenario.js';
import { runThroughput } from './throughput.js';
import type { ThroughputSpec } from './throughput.js';

/**
 * Messages a publisher may have on their way to the subscriber in the fan-in scenarios. Ten
 * publishers keep at most 1000 messages in flight to the one subscriber: enough to keep any broker
 * busy, yet within the default per-session queue bounds (midge: 100 in flight + 1000 queued), so
 * the scenario measures sustained throughput rather than queue overflow.
 */
const FANIN_WINDOW = 100;
/** Messages the fan-out publisher may have on their way to its 50 subscribers (each gets all). */
const FANOUT_WINDOW = 200;
/** QoS 1/2 publishes a publisher may have awaiting PUBACK/PUBCOMP. */
const ACK_WINDOW = 100;

/** 10 publishers → 1 subscriber at `qos`; a `persistent` subscriber keeps its session (clean session false). */
function faninSpec(qos: QoS, persistent = false): ThroughputSpec {
  return {
    publishers: 10,
    subscribers: 1,
    qos,
    ackWindow: ACK_WINDOW,
    deliveryWindow: FANIN_WINDOW,
    persistentSubscribers: persistent,
  };
}

/** The fan-in scenario at `qos`. */
function fanin(qos: QoS, persistent = false): (context: ScenarioContext) => Promise<ScenarioMetrics> {
  const spec = faninSpec(qos, persistent);
  return (context) => runThroughput(spec, context);
}

/** Every scenario, in the order a full run executes them. */
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
    run: (context) => runCommit(faninSpec(1, true), context),
  },
  {
    name: 'fanout-qos0',
    mode: 'memory',
    description: '1 publisher → 50 subscribers, QoS 0 (deliveries/s)',
    run: (context) =>
      runThroughput(
        { publishers: 1, subscribers: 50, qos: 0, ackWindow: ACK_WINDOW, deliveryWindow: FANOUT_WINDOW },
        context,
      ),
  },
  {
    name: 'latency',
    mode: 'memory',
    description: '1000 msg/s QoS 0, 1 publisher → 1 subscriber, one-way p50/p99',
    run: (context) => runLatency(1000, context),
  },
  {
    name: 'idle',
    mode: 'memory',
    description: '1000 idle connections (keepalive 60), broker RSS growth per 1k',
    run: (context) => runIdle(1000, context),
  },
]);

/** The scenario called `name`, if any. */
export function findScenario(name: string): Scenario | undefined {
  return SCENARIOS.find((scenario) => scenario.name === name);
}
