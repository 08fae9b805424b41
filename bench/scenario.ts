import type { ScenarioContext, ScenarioMetrics } from '../src/loadgen/metrics.js';

export type { ScenarioMetrics };

/**
 * How a scenario needs its broker configured: `memory` keeps state in memory only, `durable` turns
 * on each broker's own disk persistence, `instrumented` is a durable Midge that also answers
 * counter queries (bench/midge-level-server.ts); only Midge supports it. `default` starts each
 * broker as its user would with no options: Midge with its LevelDB store and its WebSocket and HTTP
 * listeners, aedes in memory, Mosquitto with its own defaults.
 */
export type BrokerMode = 'memory' | 'durable' | 'instrumented' | 'default';

/** What a side-by-side scenario gets: one freshly started broker, probed through /proc, and the run's settings. */
export interface RunContext extends ScenarioContext {
  probe: NonNullable<ScenarioContext['probe']>;
  /** Asks an instrumented broker for its counters; undefined for other brokers. */
  readCounters?: () => Promise<unknown>;
}

/** A named load pattern of the side-by-side comparison. */
export interface Scenario {
  name: string;
  description: string;
  /** Broker configuration; brokers that lack this mode are skipped for the scenario. */
  mode: BrokerMode;
  run: (context: RunContext) => Promise<ScenarioMetrics>;
}
