import type { ScenarioContext, ScenarioMetrics } from './metrics.js';
import { poolFor } from './pool.js';
import { quantile } from './stats.js';
import { pause } from './wait.js';

/** How the `connections` scenario opens its clients. */
export interface ConnectionsSpec {
  connections: number;
  /** Handshakes in progress at once. */
  concurrency: number;
  /** Keepalive in seconds; a PINGREQ goes out on every connection each half keepalive while they are held. */
  keepalive: number;
}

/** Longest wait for one connection and its CONNACK. */
const CONNECT_TIMEOUT_MS = 10_000;
/** Failure reasons quoted in the notes; the count covers them all. */
const QUOTED_FAILURES = 3;

/**
 * Opens `connections` MQTT connections, holds them (idle, pinging) for the measured duration and
 * reports the connect rate, the CONNACK time, failures, and connections lost while held. With a
 * probe it also reports the broker's RSS growth per 1000 connections.
 */
export async function runConnections(spec: ConnectionsSpec, context: ScenarioContext): Promise<ScenarioMetrics> {
  const pool = poolFor(context, CONNECT_TIMEOUT_MS);
  try {
    const beforeKb = context.probe?.rssKb();
    const started = performance.now();
    const counter = (): number => pool.size;
    context.progress?.track('connecting', counter, 'connections/s');
    const outcome = await pool.tryConnectMany('conn', spec.connections, {
      concurrency: spec.concurrency,
      keepalive: spec.keepalive,
    });
    const openingMs = performance.now() - started;
    await hold(spec, context, pool.pingAll.bind(pool), counter);
    const stillOpen = pool.size;
    const afterKb = context.probe?.rssKb();
    const opened = outcome.clients.length;
    const sorted = Float64Array.from(outcome.connectMs).sort();
    const notes = failureNotes(outcome.failures, pool.lost);
    return {
      rate: opened / (openingMs / 1000),
      unit: 'connections/s',
      p50Ms: quantile(sorted, 0.5),
      p99Ms: quantile(sorted, 0.99),
      maxMs: quantile(sorted, 1),
      mbPer1k: beforeKb !== undefined && afterKb !== undefined && opened > 0 ? ((afterKb - beforeKb) / 1024) * (1000 / opened) : undefined,
      brokerRssMb: afterKb === undefined ? undefined : afterKb / 1024,
      connectFailures: outcome.failures.length,
      connectionsLost: pool.lost.length,
      extra: { connections: spec.connections, opened, stillOpen, openingMs, heldMs: context.durationMs },
      notes,
    };
  } finally {
    pool.closeAll();
  }
}

/** Keeps the connections for the measured duration, pinging them every half keepalive. */
async function hold(
  spec: ConnectionsSpec,
  context: ScenarioContext,
  pingAll: () => void,
  open: () => number,
): Promise<void> {
  context.progress?.track('holding', open, 'connections/s', context.durationMs);
  const pinger = setInterval(pingAll, (spec.keepalive * 1000) / 2);
  try {
    await pause(context.durationMs);
  } finally {
    clearInterval(pinger);
  }
}

/** Notes naming the first few failed and lost connections. */
function failureNotes(failures: readonly string[], lost: readonly string[]): string[] {
  const notes: string[] = [];
  if (failures.length > 0) {
    notes.push(`${failures.length} connection(s) failed: ${failures.slice(0, QUOTED_FAILURES).join('; ')}`);
  }
  if (lost.length > 0) {
    notes.push(`${lost.length} connection(s) lost while held: ${lost.slice(0, QUOTED_FAILURES).join('; ')}`);
  }
  return notes;
}
