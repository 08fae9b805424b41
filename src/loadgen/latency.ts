import type { BenchClient, QoS } from './client.js';
import { ageNs, encodePayload, readPublisher, readSeq } from './payload.js';
import type { ScenarioContext, ScenarioMetrics } from './metrics.js';
import { poolFor } from './pool.js';
import { SequenceChecker } from './sequence.js';
import { summarizeLatencyNs } from './stats.js';
import { pause, waitUntil } from './wait.js';

/** Most messages sent in one timer turn when the pacer has fallen behind. */
const MAX_CATCH_UP = 50;

/**
 * Messages sent in bursts before the paced run. A Node.js broker (Midge, aedes) runs interpreted
 * code until its JIT has seen enough messages: a paced warm-up of 1000 msg/s takes tens of seconds
 * to get there, so without this a fresh broker's p99 measures its compiler, not its steady state.
 * Every broker gets the same bursts; they are not recorded.
 */
const PRIMING_MESSAGES = 20_000;
/** Messages per priming burst; the next burst waits until this one has arrived. */
const PRIMING_BURST = 500;
/** Publisher index stamped on priming messages, so the sequence check ignores them. */
const PRIMING_PUBLISHER = 1;
/**
 * Priming messages sent one at a time after the bursts, each once the previous one arrived. A burst
 * reaches the broker in a few reads, so it warms the per-message code but not the per-read and
 * per-write code of the socket path, which the paced run calls once per message: V8 was still
 * compiling Node's stream functions during the first 2 s of the measured window (bench/README.md,
 * *Latency at 1000 msg/s: where a message's time goes*).
 */
const PRIMING_SINGLES = 5_000;

/** Priming messages received, and what to call when one arrives (the one-at-a-time phase). */
interface Priming {
  received: number;
  arrived: (() => void) | undefined;
}

/** Latency samples taken while `recording` is on. */
interface Recorder {
  recording: boolean;
  samplesNs: Float64Array;
  count: number;
}

/** How the latency run publishes and subscribes. */
export interface LatencyShape {
  /** QoS of the publisher and the subscription (0 unless given). */
  readonly qos?: QoS;
  /** The subscriber keeps a persistent session (clean session false), so a durable broker stores its deliveries. */
  readonly persistent?: boolean;
}

/** One publisher paced at `ratePerSecond`, one subscriber in this process; reports p50/p99 one-way latency. */
export async function runLatency(ratePerSecond: number, context: ScenarioContext, shape: LatencyShape = {}): Promise<ScenarioMetrics> {
  const pool = poolFor(context, 5000);
  const topic = `${context.topicRoot}/latency`;
  const qos = shape.qos ?? 0;
  try {
    const [subscriber] = await pool.connectMany('lat-sub', 1, { cleanSession: shape.persistent !== true });
    const [publisher] = await pool.connectMany('lat-pub', 1);
    if (subscriber === undefined || publisher === undefined) throw new Error('latency clients missing');
    const capacity = Math.ceil((ratePerSecond * (context.durationMs + context.warmupMs)) / 1000) + MAX_CATCH_UP;
    const recorder: Recorder = { recording: false, samplesNs: new Float64Array(capacity), count: 0 };
    const checker = new SequenceChecker();
    let received = 0;
    const priming: Priming = { received: 0, arrived: undefined };
    subscriber.setHandlers({
      onMessage: (payload) => {
        if (readPublisher(payload) === PRIMING_PUBLISHER) {
          priming.received++;
          priming.arrived?.();
          return;
        }
        received++;
        checker.record(readPublisher(payload), readSeq(payload));
        if (recorder.recording && recorder.count < capacity) recorder.samplesNs[recorder.count++] = ageNs(payload);
      },
    });
    await subscriber.subscribe(topic, qos, 5000);
    const primingNote = await prime(publisher, topic, qos, priming, context);
    const { sent, cpuMs } = await pace(publisher, topic, qos, ratePerSecond, recorder, context);
    context.progress?.track('draining', () => received, 'msg/s', 2000);
    await waitUntil(() => received >= sent, 2000);
    const latency = summarizeLatencyNs(recorder.samplesNs.subarray(0, recorder.count));
    const counts = checker.countsFor(0, sent);
    const notes = pool.lost.length > 0 ? [`${pool.lost.length} connection(s) lost: ${pool.lost[0]}`] : [];
    if (primingNote !== undefined) notes.push(primingNote);
    return {
      p50Ms: latency.p50Ms,
      p99Ms: latency.p99Ms,
      maxMs: latency.maxMs,
      cpuUsPerMsg: recorder.count > 0 && Number.isFinite(cpuMs) ? (cpuMs * 1000) / recorder.count : undefined,
      brokerRssMb: context.probe === undefined ? undefined : context.probe.rssKb() / 1024,
      qos,
      connectionsLost: pool.lost.length,
      sent,
      counts,
      perPublisher: [counts],
      extra: { samples: latency.samples, meanMs: latency.meanMs, targetRate: ratePerSecond },
      notes,
    };
  } finally {
    pool.closeAll();
  }
}

/**
 * Sends PRIMING_MESSAGES in bursts, each once the previous one arrived, then PRIMING_SINGLES one at a
 * time. A broker may drop QoS 0 messages: priming then stops at the first burst that does not all
 * arrive within 2 s, or when no single one arrives for 2 s, and the returned note says how many did.
 */
async function prime(publisher: BenchClient, topicName: string, qos: QoS, priming: Priming, context: ScenarioContext): Promise<string | undefined> {
  const topic = Buffer.from(topicName);
  context.progress?.track('priming', () => priming.received, 'msg/s');
  let sent = 0;
  while (sent < PRIMING_MESSAGES) {
    publisher.cork();
    for (let i = 0; i < PRIMING_BURST; i++, sent++) publisher.publish(topic, encodePayload(context.payloadSize, PRIMING_PUBLISHER, sent), qos);
    publisher.uncork();
    const target = sent;
    if (!(await waitUntil(() => priming.received >= target, 2000, 1))) return `priming stopped: ${priming.received} of ${sent} priming messages arrived`;
  }
  const target = sent + PRIMING_SINGLES;
  const sendOne = (): void => {
    if (sent < target) publisher.publish(topic, encodePayload(context.payloadSize, PRIMING_PUBLISHER, sent++), qos);
  };
  priming.arrived = sendOne;
  sendOne();
  try {
    for (let seen = -1; priming.received < target; seen = priming.received) {
      if (priming.received === seen) return `priming stopped: ${priming.received} of ${sent} priming messages arrived`;
      await waitUntil(() => priming.received >= target, 2000, 5);
    }
  } finally {
    priming.arrived = undefined;
  }
  return undefined;
}

/** Publishes at a steady rate through warm-up (not recorded) and the measured window (recorded). */
async function pace(
  publisher: BenchClient,
  topicName: string,
  qos: QoS,
  ratePerSecond: number,
  recorder: Recorder,
  context: ScenarioContext,
): Promise<{ sent: number; cpuMs: number }> {
  const topic = Buffer.from(topicName);
  const startNs = process.hrtime.bigint();
  let sent = 0;
  const timer = setInterval(() => {
    const due = Math.floor((Number(process.hrtime.bigint() - startNs) / 1e9) * ratePerSecond);
    for (let i = 0; i < MAX_CATCH_UP && sent < due; i++) {
      publisher.publish(topic, encodePayload(context.payloadSize, 0, sent), qos);
      sent++;
    }
  }, 1);
  try {
    if (context.warmupMs > 0) context.progress?.track('warm-up', () => sent, 'msg/s', context.warmupMs);
    await pause(context.warmupMs);
    recorder.recording = true;
    context.progress?.track('measuring', () => recorder.count, 'msg/s', context.durationMs);
    const startCpuMs = context.probe?.cpuMs() ?? Number.NaN;
    await pause(context.durationMs);
    recorder.recording = false;
    return { sent, cpuMs: (context.probe?.cpuMs() ?? Number.NaN) - startCpuMs };
  } finally {
    clearInterval(timer);
  }
}
