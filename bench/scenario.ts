import type { ProcProbe } from './proc.js';
import type { SequenceCounts } from './sequence.js';

/** What a scenario gets from the runner: one freshly started broker and the run's settings. */
export interface ScenarioContext {
  host: string;
  port: number;
  /** /proc reader for the broker process. */
  probe: ProcProbe;
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
  run: (context: ScenarioContext) => Promise<ScenarioMetrics>;
}
