import type { Endpoint } from './endpoint.js';
import type { SequenceCounts } from './sequence.js';

/** CPU and memory of the broker process, when it runs on this machine (see ProcProbe). */
export interface BrokerProbe {
  /** Resident set size in kB. */
  rssKb(): number;
  /** User plus system CPU time in milliseconds. */
  cpuMs(): number;
}

/** Shows a live figure while a scenario runs (see Progress); scenarios only say what to show. */
export interface ProgressSink {
  /** From now on shows `label`, the elapsed time out of `totalMs` and how fast `count()` grows, in `unit`. */
  track(label: string, count: () => number, unit: string, totalMs?: number): void;
}

/** What a scenario gets: the broker to drive and the run's settings. */
export interface ScenarioContext {
  endpoint: Endpoint;
  /**
   * Where subscribers connect instead of `endpoint`, spread in turn (a cluster: publishers on one
   * node, subscribers on the others). Publishers always use `endpoint`.
   */
  subscriberEndpoints?: readonly Endpoint[];
  /** Topics are `<topicRoot>/...`; subscribers subscribe to `<topicRoot>/#`. */
  topicRoot: string;
  /** Prepended to every client id, so runs against one broker do not take over each other's sessions. */
  clientIdPrefix: string;
  username?: string;
  password?: string;
  /** CPU and RSS of the broker process; without it the CPU and memory figures are left out. */
  probe?: BrokerProbe;
  progress?: ProgressSink;
  warmupMs: number;
  durationMs: number;
  payloadSize: number;
}

/** Units a scenario's rate is given in. */
export type RateUnit = 'msg/s' | 'deliveries/s' | 'connections/s';

/** Measurements of one scenario against one broker; a scenario fills in the fields it measures. */
export interface ScenarioMetrics {
  /** Deliveries (or, for `connections`, CONNACKs) per second during the measured window. */
  rate?: number;
  unit?: RateUnit;
  /** QoS of the scenario's messages, which decides what counts as a failure (see verdict.ts). */
  qos?: number;
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
  /** Connections that dropped without the scenario closing them. */
  connectionsLost?: number;
  /** Connections that could not be opened (`connections` scenario). */
  connectFailures?: number;
  /** Scenario-specific extra figures. */
  extra?: Record<string, number>;
  /** Anything a reader should know, e.g. dropped connections. */
  notes?: string[];
}
