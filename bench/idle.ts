import type { ScenarioMetrics } from '../src/loadgen/metrics.js';
import { poolFor } from '../src/loadgen/pool.js';
import { pause } from '../src/loadgen/wait.js';
import type { RunContext } from './scenario.js';

/** Connections opened first and kept, so one-time start-up allocations are not charged to the measured ones. */
const WARM_CONNECTIONS = 10;
/** Time for the broker to finish allocating after the last CONNACK. */
const SETTLE_MS = 2000;

/** Time a freshly started broker gets to finish its start-up before its RSS is read. */
const STARTUP_SETTLE_MS = 3000;

/** The RSS of a broker that has started and has had no connection yet (after STARTUP_SETTLE_MS). */
export async function runStartup(context: RunContext): Promise<ScenarioMetrics> {
  await pause(STARTUP_SETTLE_MS);
  return { brokerRssMb: context.probe.rssKb() / 1024, extra: { settleMs: STARTUP_SETTLE_MS } };
}

/** Opens `connections` idle MQTT connections (keepalive 60) and reports the broker's RSS growth per 1000. */
export async function runIdle(connections: number, context: RunContext): Promise<ScenarioMetrics> {
  const pool = poolFor(context, 10_000);
  try {
    await pool.connectMany('warm', WARM_CONNECTIONS);
    await pause(SETTLE_MS / 2);
    const beforeKb = context.probe.rssKb();
    const startNs = process.hrtime.bigint();
    await pool.connectMany('idle', connections, { concurrency: 50, keepalive: 60 });
    const connectMs = Number(process.hrtime.bigint() - startNs) / 1e6;
    await pause(SETTLE_MS);
    const afterKb = context.probe.rssKb();
    const open = pool.size - WARM_CONNECTIONS;
    const notes = open < connections ? [`only ${open} of ${connections} connections still open after settling`] : [];
    return {
      mbPer1k: ((afterKb - beforeKb) / 1024) * (1000 / connections),
      brokerRssMb: afterKb / 1024,
      extra: { connections, stillOpen: open, rssBeforeMb: beforeKb / 1024, rssAfterMb: afterKb / 1024, connectMs },
      notes,
    };
  } finally {
    pool.closeAll();
  }
}
