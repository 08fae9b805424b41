import { accessSync, constants, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_FLAGS } from '../src/cli/node-flags.js';
import { DEFAULTS } from '../src/options.js';
import type { BrokerMode } from './scenario.js';

/** Executable and arguments that start one broker. */
export interface LaunchCommand {
  command: string;
  args: string[];
  /** Open a Node IPC channel to the child (it answers counter queries). */
  ipc?: boolean;
}

/** A broker the benchmark can start: either a launcher or the reason it cannot run here. */
export interface BrokerSpec {
  name: string;
  /** Why this broker is unavailable, or undefined when it can run. */
  unavailable?: string;
  /** The modes this broker can run in. */
  modes: readonly BrokerMode[];
  /**
   * Builds the command for a broker on `host:port` in `mode`. `workDir` is a private scratch
   * directory, also the broker's cwd, removed when the broker stops: all its files go there.
   */
  launch: (host: string, port: number, workDir: string, mode: BrokerMode) => LaunchCommand;
}

/** Names accepted by --brokers, in table order. */
export const BROKER_NAMES: readonly string[] = Object.freeze(['midge', 'aedes', 'mosquitto']);

/** The repository root: two levels above the compiled dist/bench directory. */
export function repoRoot(): string {
  return fileURLToPath(new URL('../../', import.meta.url));
}

/** The broker spec for `name`. */
export function brokerSpec(name: string): BrokerSpec {
  switch (name) {
    case 'midge':
      return midgeSpec();
    case 'aedes':
      return aedesSpec();
    case 'mosquitto':
      return mosquittoSpec();
    default:
      throw new Error(`unknown broker "${name}" (known: ${BROKER_NAMES.join(', ')})`);
  }
}

/**
 * Midge through its CLI (WebSocket listener off, logging at warn) with the in-memory store, or the
 * LevelDB store with fsync durability in `durable` mode. `instrumented` runs the same durable
 * broker from bench/midge-level-server.ts, which reports the store's commit figures over IPC.
 */
function midgeSpec(): BrokerSpec {
  // MIDGE_BENCH_CLI runs another build's CLI under the same load generator (comparing branches)
  const cli = process.env.MIDGE_BENCH_CLI ?? path.join(repoRoot(), 'dist/src/cli/main.js');
  const instrumented = fileURLToPath(new URL('./midge-level-server.js', import.meta.url));
  return {
    name: 'midge',
    unavailable: existsSync(cli) ? undefined : `${cli} not built`,
    modes: ['memory', 'durable', 'instrumented', 'default'],
    launch: (host, port, workDir, mode) => {
      const listen = ['--host', host, '--port', String(port)];
      const dataDir = path.join(workDir, 'data');
      if (mode === 'instrumented') {
        return { command: process.execPath, args: [...NODE_FLAGS, instrumented, ...listen, '--data-dir', dataDir], ipc: true };
      }
      if (mode === 'default') {
        // As `midge` starts: LevelDB store with fsync, WebSocket and HTTP listeners on (on free ports)
        return { command: process.execPath, args: [...NODE_FLAGS, cli, ...listen, '--ws-port', '0', '--http-port', '0', '--log-level', 'warn', '--data-dir', dataDir] };
      }
      const store =
        mode === 'durable'
          ? ['--store', 'level', '--data-dir', dataDir, '--durability', 'fsync']
          : ['--store', 'memory'];
      return { command: process.execPath, args: [...NODE_FLAGS, cli, ...listen, '--ws-port', '-1', '--http-port', '-1', '--log-level', 'warn', ...store] };
    },
  };
}

/**
 * aedes 1.2.0 on a plain net server (bench/aedes-server.ts): default in-memory persistence, or
 * LevelDB. aedes has no bound on a client's in-flight window or on a session's queue (its
 * `queueLimit` only bounds packets that arrive before a CONNECT is authenticated), so it cannot be
 * given Midge's limits: it runs without them.
 */
function aedesSpec(): BrokerSpec {
  const server = fileURLToPath(new URL('./aedes-server.js', import.meta.url));
  return {
    name: 'aedes',
    unavailable: existsSync(server) ? undefined : `${server} not built`,
    modes: ['memory', 'durable', 'default'],
    launch: (host, port, workDir, mode) => {
      const store = mode === 'durable' ? ['--persistence', 'level', '--db', path.join(workDir, 'aedes-db')] : [];
      return { command: process.execPath, args: [server, '--host', host, '--port', String(port), ...store] };
    },
  };
}

/** Mosquitto from PATH with a generated configuration (see mosquittoConfig). */
function mosquittoSpec(): BrokerSpec {
  const binary = findOnPath('mosquitto');
  return {
    name: 'mosquitto',
    unavailable: binary === undefined ? 'mosquitto is not on PATH' : undefined,
    modes: ['memory', 'durable', 'default'],
    launch: (host, port, workDir, mode) => {
      const config = path.join(workDir, 'mosquitto.conf');
      writeFileSync(config, `${mosquittoConfig(host, port, workDir, mode).join('\n')}\n`);
      return { command: binary ?? 'mosquitto', args: ['-c', config] };
    },
  };
}

/**
 * A minimal Mosquitto configuration with Midge's limits, so a difference in the table is one
 * between the brokers, not between their settings: `max_inflight_messages` is Midge's
 * `maxInflight` (outbound QoS 1/2 messages awaiting acknowledgement per client), and
 * `max_queued_messages` / `max_queued_bytes` are Midge's `maxQueuedMessages` / `maxQueuedBytes`
 * (messages queued per client beyond that window; 0 is unlimited in both). In `durable` mode
 * persistence is on with the default autosave settings: Mosquitto then writes a snapshot of its
 * whole state every autosave_interval (1800 s) and at shutdown, not per message, so nothing
 * reaches the disk during a run. `default` mode is Mosquitto's own defaults (no persistence).
 */
function mosquittoConfig(host: string, port: number, workDir: string, mode: BrokerMode): string[] {
  const persistence =
    mode === 'durable'
      ? ['persistence true', `persistence_location ${workDir}${path.sep}`]
      : ['persistence false'];
  const limits =
    mode === 'default'
      ? []
      : [
          `max_inflight_messages ${DEFAULTS.maxInflight}`,
          `max_queued_messages ${DEFAULTS.maxQueuedMessages}`,
          `max_queued_bytes ${DEFAULTS.maxQueuedBytes}`,
        ];
  return [
    `listener ${port} ${host}`,
    'allow_anonymous true',
    ...persistence,
    ...limits,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
  ];
}

/** Absolute path of an executable found on PATH, if any. */
function findOnPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this directory; keep looking.
    }
  }
  return undefined;
}
