import type { ProcProbe } from './proc.js';
import type { SequenceCounts } from './sequence.js';

/**
 * How a scenario needs its broker configured: `memory` keeps state in memory only, `durable` turns
 * on each broker's own disk persistence, `instrumented` is a durable Midge that also answers
 * counter queries (bench/midge-level-server.ts); only Midge supports it.
 */
export type BrokerMode = 'memory' | 'durable' | 'instrumented';

/** What a scenario gets from the runner: one freshly started broker and the run's settings. */
export interface ScenarioContext {
  host: string;
  port: number;
  /** /proc reader for the broker process. */
  probe: ProcProbe;
  /** Asks an instrumented broker for its counters; undefined for other brokers. */
  readCounters?: () => Promise<unknown>;
  warmupMs: number;
  durationMs: number;
  payloadSize: number;
}

/** Measurements of one scenario against one broker; a scenario fills in the fields it measures. */
export interface ScenarioMetrics {
  /** Deliveries per second at the subscriber(s) during the measured window. */
  rate?: number;
  unit?: 'msg/s' | 'deliveries/s';
  p50Ms?: number;
  p99Ms?: number;
  maxMs?: number;
  /** Broker RSS growth per 1000 idle connections, in MiB. */
  mbPer1k?: number;
  /** Broker CPU time (user + system) per delivery during the measured window, in µs. */
  cpuUsPerMsg?: number;
  /** Broker RSS at the end of the scenario, in MiB. */
  brokerRssMb?: number;
  /** Messages published over the whole scenario (warm-up included). */
  sent?: number;
  /** Sequence verdicts summed over all publishers and subscribers. */
  counts?: SequenceCounts;
  /** Sequence verdicts per publisher (summed over subscribers). */
  perPublisher?: SequenceCounts[];
  /** Times a publisher wrote off undelivered messages to keep going. */
  stalls?: number;
  /** Scenario-specific extra figures. */
  extra?: Record<string, number>;
  /** Anything a reader should know, e.g. dropped connections. */
  notes?: string[];
}

/** A named load pattern. */
export interface Scenario {
  name: string;
  description: string;
  /** Broker configuration; brokers that lack this mode are skipped for the scenario. */
  mode: BrokerMode;
  run: (context: ScenarioContext) => Promise<ScenarioMetrics>;
}
