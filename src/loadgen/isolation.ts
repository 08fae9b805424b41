import type { ScenarioContext, ScenarioMetrics } from './metrics.js';
import { poolFor } from './pool.js';
import { runThroughput, type ThroughputSpec } from './throughput.js';

/** Longest wait for the stalled subscriber's CONNACK and SUBACK. */
const CONNECT_TIMEOUT_MS = 5000;
/**
 * Extra warm-up of the run with the stalled subscriber. A broker with flow control (Midge) treats a
 * subscriber that has not acknowledged its first message as consuming for up to 1 s, holding its
 * publishers back meanwhile; the measurement is of the steady state, after that.
 */
const STALL_DETECTION_MS = 1000;

/**
 * Isolation: the same publishers → healthy subscribers load twice, first alone, then with one more
 * subscriber on the same topics that stops reading its socket after its SUBACK (it never
 * acknowledges anything). The result is the second run's figures, with `isolationRatio`: the healthy
 * subscribers' rate with the stalled one present over their rate without it (1 = no effect).
 */
export async function runIsolation(spec: ThroughputSpec, context: ScenarioContext): Promise<ScenarioMetrics> {
  const baseline = await runThroughput(spec, { ...context, topicRoot: `${context.topicRoot}/alone`, clientIdPrefix: `${context.clientIdPrefix}alone-` });
  const pool = poolFor({ ...context, clientIdPrefix: `${context.clientIdPrefix}stalled-` }, CONNECT_TIMEOUT_MS);
  try {
    const root = `${context.topicRoot}/stalled`;
    const [stalled] = await pool.connectMany('sub', 1);
    if (stalled === undefined) throw new Error('the stalled subscriber did not connect');
    await stalled.subscribe(`${root}/#`, spec.qos, CONNECT_TIMEOUT_MS);
    stalled.stopReading();
    const run = await runThroughput(spec, {
      ...context,
      topicRoot: root,
      clientIdPrefix: `${context.clientIdPrefix}with-`,
      warmupMs: context.warmupMs + STALL_DETECTION_MS,
    });
    const alone = baseline.rate ?? Number.NaN;
    const isolationRatio = (run.rate ?? Number.NaN) / alone;
    const notes = [...(baseline.notes ?? []).map((n) => `alone: ${n}`), ...(run.notes ?? [])];
    if (pool.lost.length > 0) notes.push(`the stalled subscriber was disconnected by the broker: ${pool.lost[0]}`);
    const aloneCost = { aloneCpuUsPerMsg: baseline.cpuUsPerMsg ?? Number.NaN, aloneBrokerCpuPercent: baseline.extra?.['brokerCpuPercent'] ?? Number.NaN };
    return { ...run, extra: { ...run.extra, ...aloneCost, aloneRate: alone, isolationRatio }, notes };
  } finally {
    pool.closeAll();
  }
}
