import { accessSync, constants, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Executable and arguments that start one broker. */
export interface LaunchCommand {
  command: string;
  args: string[];
}

/** A broker the benchmark can start: either a launcher or the reason it cannot run here. */
export interface BrokerSpec {
  name: string;
  /** Why this broker is unavailable, or undefined when it can run. */
  unavailable?: string;
  /** Builds the command for a broker on `host:port`; `workDir` is a private scratch directory. */
  launch: (host: string, port: number, workDir: string) => LaunchCommand;
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

/** Midge through its CLI, WebSocket listener off, logging at warn. */
function midgeSpec(): BrokerSpec {
  const cli = path.join(repoRoot(), 'dist/src/cli/main.js');
  return {
    name: 'midge',
    unavailable: existsSync(cli) ? undefined : `${cli} not built`,
    launch: (host, port) => ({
      command: process.execPath,
      args: [cli, '--host', host, '--port', String(port), '--ws-port', '-1', '--log-level', 'warn'],
    }),
  };
}

/** aedes 1.2.0 with default options on a plain net server (bench/aedes-server.ts). */
function aedesSpec(): BrokerSpec {
  const server = fileURLToPath(new URL('./aedes-server.js', import.meta.url));
  return {
    name: 'aedes',
    unavailable: existsSync(server) ? undefined : `${server} not built`,
    launch: (host, port) => ({ command: process.execPath, args: [server, '--host', host, '--port', String(port)] }),
  };
}

/**
 * Mosquitto from PATH with a generated minimal configuration. The outgoing in-flight window is
 * unlimited because mosquitto 2.0.11 (the Debian/Ubuntu package) stops sending queued QoS 2
 * messages once its default window of 20 fills, which would measure that bug instead of
 * throughput; the harness's own delivery window still bounds what is in flight.
 */
function mosquittoSpec(): BrokerSpec {
  const binary = findOnPath('mosquitto');
  return {
    name: 'mosquitto',
    unavailable: binary === undefined ? 'mosquitto is not on PATH' : undefined,
    launch: (host, port, workDir) => {
      const config = path.join(workDir, 'mosquitto.conf');
      const lines = [
        `listener ${port} ${host}`,
        'allow_anonymous true',
        'persistence false',
        'max_queued_messages 1000000',
        'max_inflight_messages 0',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
      ];
      writeFileSync(config, `${lines.join('\n')}\n`);
      return { command: binary ?? 'mosquitto', args: ['-c', config] };
    },
  };
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
