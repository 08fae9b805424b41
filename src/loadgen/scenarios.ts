import type { QoS } from './client.js';
import { runConnections } from './connections.js';
import { runIsolation } from './isolation.js';
import { runLatency } from './latency.js';
import type { ScenarioContext, ScenarioMetrics } from './metrics.js';
import { runThroughput } from './throughput.js';
import type { ThroughputSpec } from './throughput.js';

/** The shape of a load: what `--publishers`, `--subscribers`, `--rate`, `--connections`… set. */
export interface LoadShape {
  publishers: number;
  subscribers: number;
  /** Per publisher: most messages not yet delivered to every subscriber. */
  window: number;
  /** Messages per second of the paced `latency` publisher. */
  rate: number;
  connections: number;
  /** Handshakes in progress at once in `connections`. */
  concurrency: number;
}

/** A load pattern `midge bench` can run against any broker URL. */
export interface LoadScenario {
  name: string;
  /** One line for --help. */
  summary: string;
  /** The shape used where a flag does not say otherwise (`window` is derived, see defaultWindow). */
  defaults: Omit<LoadShape, 'window'>;
  /** The run's shape in words, for the report. */
  describe: (shape: LoadShape) => string;
  run: (shape: LoadShape, context: ScenarioContext) => Promise<ScenarioMetrics>;
}

/**
 * Messages on their way to one subscriber, shared by its publishers. 1000 keeps any broker busy yet
 * stays within common per-session queue bounds (Midge: 100 in flight + 1000 queued; Mosquitto:
 * 20 + 1000), so a run measures sustained throughput, not queue overflow.
 */
const SUBSCRIBER_WINDOW = 1000;
/** Most messages one publisher may have on their way (the fan-out publisher's window). */
const PUBLISHER_WINDOW = 200;
/** QoS 1/2 publishes a publisher may have awaiting PUBACK/PUBCOMP. */
const ACK_WINDOW = 100;
/** Keepalive of the `connections` clients, in seconds. */
const CONNECTIONS_KEEPALIVE = 60;

/** The per-publisher delivery window for `publishers` publishers: 100 for 10 publishers, 200 for one. */
export function defaultWindow(publishers: number): number {
  return Math.max(1, Math.min(PUBLISHER_WINDOW, Math.floor(SUBSCRIBER_WINDOW / publishers)));
}

/** A throughput spec at `qos` for `shape`; a `persistent` subscriber keeps its session (clean session false). */
export function throughputSpec(qos: QoS, shape: LoadShape, persistent = false): ThroughputSpec {
  return {
    publishers: shape.publishers,
    subscribers: shape.subscribers,
    qos,
    ackWindow: ACK_WINDOW,
    deliveryWindow: shape.window,
    persistentSubscribers: persistent,
  };
}

/** The full shape of `scenario` with its defaults. */
export function defaultShape(scenario: LoadScenario): LoadShape {
  return { ...scenario.defaults, window: defaultWindow(scenario.defaults.publishers) };
}

/** Defaults of the flags that only some scenarios read (`--rate`, `--connections`, `--concurrency`). */
const UNUSED = { rate: 1000, connections: 1000, concurrency: 100 };

/** "1 publisher", "10 publishers". */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** A publishers → subscribers scenario at `qos`. */
function flow(name: string, qos: QoS, publishers: number, subscribers: number): LoadScenario {
  const arrow = (p: number, s: number): string => `${count(p, 'publisher')} → ${count(s, 'subscriber')}, QoS ${qos}`;
  return {
    name,
    summary: `${arrow(publishers, subscribers)}, as fast as the broker sustains`,
    defaults: { ...UNUSED, publishers, subscribers },
    describe: (s) => `${arrow(s.publishers, s.subscribers)}, window ${s.window} per publisher`,
    run: (shape, context) => runThroughput(throughputSpec(qos, shape), context),
  };
}

/** Publishers → healthy subscribers, alone and then beside one stalled subscriber on the same topics (see isolation.ts). */
function isolation(name: string, qos: QoS, publishers: number, subscribers: number): LoadScenario {
  const arrow = (p: number, s: number): string => `${count(p, 'publisher')} → ${count(s, 'healthy subscriber')} + 1 stalled, QoS ${qos}`;
  return {
    name,
    summary: `${arrow(publishers, subscribers)}: healthy rate with the stalled one over the rate without it`,
    defaults: { ...UNUSED, publishers, subscribers },
    describe: (s) => `${arrow(s.publishers, s.subscribers)}, window ${s.window} per publisher`,
    run: (shape, context) => runIsolation(throughputSpec(qos, shape), context),
  };
}

/** Every scenario of `midge bench`, in --help order. */
export const LOAD_SCENARIOS: readonly LoadScenario[] = Object.freeze([
  flow('fanin-qos0', 0, 10, 1),
  flow('fanin-qos1', 1, 10, 1),
  flow('fanin-qos2', 2, 10, 1),
  flow('fanout-qos0', 0, 1, 50),
  flow('fanout-qos1', 1, 1, 50),
  isolation('isolation-qos0', 0, 4, 4),
  isolation('isolation-qos1', 1, 4, 4),
  {
    name: 'latency',
    summary: '25k unrecorded priming messages (20k in bursts, 5k one at a time), then 1 publisher paced at --rate msg/s (QoS 0) → 1 subscriber; one-way p50/p99/max',
    defaults: { ...UNUSED, publishers: 1, subscribers: 1 },
    describe: (s) => `1 publisher at ${s.rate} msg/s → 1 subscriber, QoS 0`,
    run: (shape, context) => runLatency(shape.rate, context),
  },
  {
    name: 'connections',
    summary: 'opens --connections connections, holds them for --duration; connect rate, CONNACK time, failures',
    defaults: { ...UNUSED, publishers: 0, subscribers: 0 },
    describe: (s) => `${s.connections} connections, ${s.concurrency} handshakes at a time, held idle`,
    run: (shape, context) =>
      runConnections(
        { connections: shape.connections, concurrency: shape.concurrency, keepalive: CONNECTIONS_KEEPALIVE },
        context,
      ),
  },
]);

/** The scenario called `name`, if any. */
export function findLoadScenario(name: string): LoadScenario | undefined {
  return LOAD_SCENARIOS.find((scenario) => scenario.name === name);
}
