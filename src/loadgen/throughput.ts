import type { BenchClient, QoS } from './client.js';
import { ageNs, readPublisher, readSeq } from './payload.js';
import type { ScenarioContext, ScenarioMetrics } from './metrics.js';
import { poolFor, type ClientPool } from './pool.js';
import { FlowPublisher } from './publisher.js';
import { SequenceChecker, sumCounts } from './sequence.js';
import type { SequenceCounts } from './sequence.js';
import { perSecond, summarizeLatencyNs } from './stats.js';
import { pause, waitWhileMoving } from './wait.js';

/** Shape of a throughput scenario. */
export interface ThroughputSpec {
  publishers: number;
  subscribers: number;
  qos: QoS;
  /** Per publisher: most QoS 1/2 publishes awaiting their ack. */
  ackWindow: number;
  /** Per publisher: most messages not yet delivered to every subscriber. */
  deliveryWindow: number;
  /** Subscribers connect with clean session false, so the broker keeps (and persists) their sessions. */
  persistentSubscribers?: boolean;
  /** Extra figures taken at the edges of the measured window. */
  window?: WindowProbe;
}

/** Called just before and just after the measured window; `end` returns figures for `extra`. */
export interface WindowProbe {
  begin: () => Promise<void>;
  end: () => Promise<Record<string, number>>;
}

/** Longest wait for a connection and its CONNACK, and for a SUBACK. */
const CONNECT_TIMEOUT_MS = 5000;
/** After publishing stops, the wait for in-flight messages ends once none arrived for this long... */
const STRAGGLER_MS = 3000;
/** ...or after this long in all, even while they still arrive. */
const DRAIN_CAP_MS = 30_000;
/** Load-generator CPU above which its own speed may cap the measured rate. */
const SATURATED_PERCENT = 90;
/** How often publishers check for a stalled delivery window. */
const TICK_MS = 100;

/** Most one-way latency samples kept per run (the first ones of the measured window). */
const MAX_SAMPLES = 500_000;

/** Counters shared by the subscribers' message handlers, and the latency samples of the measured window. */
interface Tally {
  delivered: number;
  recording: boolean;
  readonly samplesNs: Float64Array;
  samples: number;
}

/** Runs publishers → subscribers at full sustained speed and counts what arrives. */
export async function runThroughput(
  spec: ThroughputSpec,
  context: ScenarioContext,
): Promise<ScenarioMetrics> {
  const pool = poolFor(context, CONNECT_TIMEOUT_MS);
  const subscriberPools = (context.subscriberEndpoints ?? []).map((endpoint) => poolFor({ ...context, endpoint }, CONNECT_TIMEOUT_MS));
  try {
    const publishers: FlowPublisher[] = [];
    const tally: Tally = { delivered: 0, recording: false, samplesNs: new Float64Array(MAX_SAMPLES), samples: 0 };
    const cleanSession = spec.persistentSubscribers !== true;
    const subscribers = await connectSubscribers(subscriberPools.length > 0 ? subscriberPools : [pool], spec.subscribers, cleanSession);
    const checkers = await subscribeAll(subscribers, `${context.topicRoot}/#`, spec.qos, publishers, tally);
    const clients = await pool.connectMany('pub', spec.publishers);
    clients.forEach((client, index) => publishers.push(createPublisher(client, index, spec, context)));
    const unit = spec.subscribers > 1 ? 'deliveries/s' : 'msg/s';
    const window = await measure(publishers, tally, context, spec.window, unit);
    const expected = (): number => sentTotal(publishers) * spec.subscribers;
    context.progress?.track('draining', () => tally.delivered, unit, STRAGGLER_MS);
    await waitWhileMoving(() => tally.delivered >= expected(), () => tally.delivered, STRAGGLER_MS, DRAIN_CAP_MS);
    const perPublisher = countPerPublisher(checkers, publishers);
    const lost = [...pool.lost, ...subscriberPools.flatMap((p) => p.lost)];
    const notes = runNotes(lost, window.extra?.['loadCpuPercent'] ?? 0);
    const latency = summarizeLatencyNs(tally.samplesNs.subarray(0, tally.samples));
    return {
      ...window,
      // One-way delivery latency under full load: mostly time spent waiting in windows and queues
      p50Ms: latency.p50Ms,
      p99Ms: latency.p99Ms,
      unit,
      qos: spec.qos,
      brokerRssMb: context.probe === undefined ? undefined : context.probe.rssKb() / 1024,
      connectionsLost: lost.length,
      sent: sentTotal(publishers),
      counts: sumCounts(perPublisher),
      perPublisher,
      stalls: publishers.reduce((sum, p) => sum + p.stalls, 0),
      notes,
    };
  } finally {
    pool.closeAll();
    for (const p of subscriberPools) p.closeAll();
  }
}

/** Connects `count` subscribers spread in turn over `pools` (one pool per endpoint). */
async function connectSubscribers(pools: readonly ClientPool[], count: number, cleanSession: boolean): Promise<BenchClient[]> {
  const clients: BenchClient[] = [];
  for (const [k, p] of pools.entries()) {
    const share = Math.floor(count / pools.length) + (k < count % pools.length ? 1 : 0);
    clients.push(...(await p.connectMany(pools.length > 1 ? `sub${k}` : 'sub', share, { cleanSession })));
  }
  return clients;
}

/** Notes on lost connections and on a load generator that may have been the bottleneck. */
function runNotes(lost: readonly string[], loadCpuPercent: number): string[] {
  const notes = lost.length > 0 ? [`${lost.length} connection(s) lost: ${lost[0]}`] : [];
  if (loadCpuPercent > SATURATED_PERCENT) {
    notes.push(`load generator at ${Math.round(loadCpuPercent)}% CPU: rate may be generator-bound`);
  }
  return notes;
}

/** Subscribes every client to all benchmark topics; returns one sequence checker per subscriber. */
async function subscribeAll(
  subscribers: readonly BenchClient[],
  filter: string,
  qos: QoS,
  publishers: readonly FlowPublisher[],
  tally: Tally,
): Promise<SequenceChecker[]> {
  const checkers: SequenceChecker[] = [];
  for (const subscriber of subscribers) {
    const checker = new SequenceChecker();
    checkers.push(checker);
    subscriber.setHandlers({
      onMessage: (payload) => {
        tally.delivered++;
        if (tally.recording && tally.samples < MAX_SAMPLES) tally.samplesNs[tally.samples++] = ageNs(payload);
        const publisher = readPublisher(payload);
        checker.record(publisher, readSeq(payload));
        publishers[publisher]?.noteDelivery();
      },
    });
    await subscriber.subscribe(filter, qos, CONNECT_TIMEOUT_MS);
  }
  return checkers;
}

/** Builds publisher `index` of a scenario; each publisher has its own topic. */
function createPublisher(
  client: BenchClient,
  index: number,
  spec: ThroughputSpec,
  context: ScenarioContext,
): FlowPublisher {
  return new FlowPublisher(client, {
    index,
    qos: spec.qos,
    topic: `${context.topicRoot}/p${index}`,
    payloadSize: context.payloadSize,
    ackWindow: spec.ackWindow,
    deliveryWindow: spec.deliveryWindow,
    fanout: spec.subscribers,
  });
}

/** Publishes through warm-up and the measured window, then stops; returns the window's rate and CPU cost. */
async function measure(
  publishers: readonly FlowPublisher[],
  tally: Tally,
  context: ScenarioContext,
  probe: WindowProbe | undefined,
  unit: string,
): Promise<Pick<ScenarioMetrics, 'rate' | 'cpuUsPerMsg' | 'extra'>> {
  const ticker = setInterval(() => publishers.forEach((p) => p.tick()), TICK_MS);
  const delivered = (): number => tally.delivered;
  try {
    publishers.forEach((p) => p.start());
    if (context.warmupMs > 0) context.progress?.track('warm-up', delivered, unit, context.warmupMs);
    await pause(context.warmupMs);
    await probe?.begin();
    context.progress?.track('measuring', delivered, unit, context.durationMs);
    const startDelivered = tally.delivered;
    const startCpuMs = context.probe?.cpuMs() ?? Number.NaN;
    const startLoadCpu = process.cpuUsage();
    const startNs = process.hrtime.bigint();
    tally.recording = true;
    await pause(context.durationMs);
    tally.recording = false;
    const deliveries = tally.delivered - startDelivered;
    const cpuMs = (context.probe?.cpuMs() ?? Number.NaN) - startCpuMs;
    const loadCpu = process.cpuUsage(startLoadCpu);
    const elapsedNs = process.hrtime.bigint() - startNs;
    const elapsedMs = Number(elapsedNs) / 1e6;
    const probed = (await probe?.end()) ?? {};
    const brokerCpu: Record<string, number> = Number.isFinite(cpuMs) ? { brokerCpuPercent: (cpuMs / elapsedMs) * 100 } : {};
    return {
      rate: perSecond(deliveries, elapsedNs),
      cpuUsPerMsg: deliveries > 0 && Number.isFinite(cpuMs) ? (cpuMs * 1000) / deliveries : undefined,
      extra: {
        ...brokerCpu,
        loadCpuPercent: ((loadCpu.user + loadCpu.system) / 1000 / elapsedMs) * 100,
        deliveriesMeasured: deliveries,
        ...probed,
      },
    };
  } finally {
    publishers.forEach((p) => p.stop());
    clearInterval(ticker);
  }
}

/** Total messages written by all publishers. */
function sentTotal(publishers: readonly FlowPublisher[]): number {
  return publishers.reduce((sum, p) => sum + p.sent, 0);
}

/** Sequence verdicts per publisher, summed over subscribers. */
function countPerPublisher(
  checkers: readonly SequenceChecker[],
  publishers: readonly FlowPublisher[],
): SequenceCounts[] {
  const sent = publishers.map((p) => p.sent);
  const perSubscriber = checkers.map((checker) => checker.counts(sent));
  const width = Math.max(0, ...perSubscriber.map((counts) => counts.length));
  const perPublisher: SequenceCounts[] = [];
  for (let i = 0; i < width; i++) {
    perPublisher.push(sumCounts(perSubscriber.flatMap((counts) => counts.slice(i, i + 1))));
  }
  return perPublisher;
}
