import type { ScenarioMetrics } from '../src/loadgen/metrics.js';
import type { RunContext } from './scenario.js';
import { runThroughput } from '../src/loadgen/throughput.js';
import type { ThroughputSpec, WindowProbe } from '../src/loadgen/throughput.js';
import type { CommitCounters } from './timed-store.js';

/**
 * Runs `spec` against the instrumented Midge (bench/midge-level-server.ts) and adds its LevelStore
 * group-commit figures for the measured window to `extra`: commits, commits/s, operations per
 * commit (the batch size), mean commit latency and the flush waits of held acknowledgements.
 */
export async function runCommit(spec: ThroughputSpec, context: RunContext): Promise<ScenarioMetrics> {
  const read = context.readCounters;
  if (read === undefined) throw new Error('this scenario needs a broker that answers counter queries');
  const metrics = await runThroughput({ ...spec, window: commitProbe(read) }, context);
  const extra = { ...metrics.extra };
  const deliveries = extra['deliveriesMeasured'] ?? Number.NaN;
  extra['messagesPerCommit'] = deliveries / (extra['commits'] ?? Number.NaN);
  extra['operationsPerMessage'] = (extra['operations'] ?? Number.NaN) / deliveries;
  return { ...metrics, extra };
}

/** Reads the counters at both edges of the window and returns their difference. */
function commitProbe(read: () => Promise<unknown>): WindowProbe {
  let before: CommitCounters | undefined;
  return {
    begin: async () => {
      before = asCounters(await read());
    },
    end: async () => {
      const after = asCounters(await read());
      if (before === undefined) throw new Error('counters were not read at the start of the window');
      return commitFigures(before, after);
    },
  };
}

/** Figures for the interval between two readings; `after.flushWaits` already covers only that interval. */
function commitFigures(before: CommitCounters, after: CommitCounters): Record<string, number> {
  const commits = after.store.commits - before.store.commits;
  const operations = after.store.operations - before.store.operations;
  const seconds = (after.atMs - before.atMs) / 1000;
  const waits = after.flushWaits;
  return {
    commits,
    operations,
    commitsPerSecond: commits / seconds,
    operationsPerCommit: operations / commits,
    maxOperationsPerCommit: after.store.maxBatch,
    meanCommitMs: (after.store.latencyMs - before.store.latencyMs) / commits,
    commitErrors: after.store.errors - before.store.errors,
    flushes: waits.samples,
    flushesPerCommit: waits.samples / commits,
    flushWaitMeanMs: waits.meanMs,
    flushWaitP50Ms: waits.p50Ms,
    flushWaitP99Ms: waits.p99Ms,
    flushWaitMaxMs: waits.maxMs,
  };
}

/** Checks the shape of an IPC answer. */
function asCounters(message: unknown): CommitCounters {
  const counters = message as Partial<CommitCounters> | null;
  const valid = counters?.type === 'counters' && typeof counters.store?.commits === 'number';
  if (!valid || counters.flushWaits === undefined) {
    throw new Error(`unexpected answer to a counters query: ${JSON.stringify(message)}`);
  }
  return counters as CommitCounters;
}
