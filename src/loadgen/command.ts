import { BENCH_USAGE, BenchUsageError, parseBenchArgs } from './args.js';
import type { BenchRun } from './args.js';
import { endpointUrl } from './endpoint.js';
import type { ScenarioContext, ScenarioMetrics } from './metrics.js';
import { clockTicksPerSecond, ProcProbe } from './proc.js';
import { Progress } from './progress.js';
import { buildReport, reportJson, reportText } from './report.js';
import { problems } from './verdict.js';

/** Exit status of `midge bench` when the run passed. */
export const EXIT_PASSED = 0;
/** Exit status when the run found a problem (see verdict.ts) or could not run. */
export const EXIT_FAILED = 1;
/** Exit status for a bad command line. */
export const EXIT_USAGE = 2;

/** Slack on top of warm-up + duration before a run is declared hung (connecting, draining). */
const RUN_SLACK_MS = 120_000;

/** Where `midge bench` writes: the result on `stdout`, progress and errors on `stderr`. */
export interface BenchIo {
  stdout: { write(text: string): boolean };
  stderr: { write(text: string): boolean; isTTY?: boolean };
}

/** Runs `midge bench` with `argv` (the arguments after "bench") and returns its exit status. */
export async function runBenchCommand(argv: string[], io: BenchIo = process): Promise<number> {
  let command;
  const progress = new Progress(io.stderr);
  let scenarioContext: ScenarioContext | undefined;
  try {
    command = parseBenchArgs(argv);
    if (command.kind === 'run') scenarioContext = context(command, progress);
  } catch (err) {
    if (!(err instanceof BenchUsageError)) throw err;
    io.stderr.write(`midge bench: ${err.message}\n`);
    return EXIT_USAGE;
  }
  if (command.kind === 'help' || scenarioContext === undefined) {
    io.stdout.write(`${BENCH_USAGE}\n`);
    return EXIT_PASSED;
  }
  let metrics: ScenarioMetrics;
  try {
    metrics = await withTimeout(command.scenario.run(command.shape, scenarioContext), limitMs(command));
  } catch (err) {
    progress.stop();
    const reason = err instanceof Error ? err.message : String(err);
    io.stderr.write(`midge bench: ${command.scenario.name} against ${endpointUrl(command.endpoint)} failed: ${reason}\n`);
    return EXIT_FAILED;
  }
  progress.stop();
  const report = buildReport(command, metrics, problems(metrics));
  io.stdout.write(`${command.json ? reportJson(report) : reportText(report)}\n`);
  return report.passed ? EXIT_PASSED : EXIT_FAILED;
}

/** The scenario context for a run. */
function context(run: BenchRun, progress: Progress): ScenarioContext {
  return {
    endpoint: run.endpoint,
    topicRoot: run.topicRoot,
    clientIdPrefix: run.clientIdPrefix,
    username: run.username,
    password: run.password,
    probe: run.pid === undefined ? undefined : probeFor(run.pid),
    progress,
    warmupMs: run.warmupMs,
    durationMs: run.durationMs,
    payloadSize: run.payloadSize,
  };
}

/** A /proc probe of process `pid`, checked once so a wrong --pid is a usage error. */
function probeFor(pid: number): ProcProbe {
  const probe = new ProcProbe(pid, clockTicksPerSecond());
  try {
    probe.cpuMs();
    probe.rssKb();
  } catch {
    throw new BenchUsageError(`--pid: cannot read /proc/${pid} (no such process on this machine, or not Linux)`);
  }
  return probe;
}

/** How long a run may take in all: the connections scenario also opens its connections first. */
function limitMs(run: BenchRun): number {
  return run.warmupMs + run.durationMs + RUN_SLACK_MS;
}

/** Rejects if `promise` takes longer than `ms`. */
async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the run did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
