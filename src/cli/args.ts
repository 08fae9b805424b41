import { parseArgs } from 'node:util';
import { CONFIG_ENV, loadConfig } from '../config/load.js';
import type { BrokerOptions } from '../options.js';

/** Thrown for a bad command line or config file; the CLI prints its message on one line. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `Usage: midge [options]
  --host ADDR          interface to bind (default 0.0.0.0)
  --port N             MQTT over TCP port (default 1883; 0 = any free port; -1 = off)
  --ws-port N          MQTT over WebSocket port (default 8083; 0 = any free port; -1 = off)
  --ws-path PATH       WebSocket path (default /mqtt)
  --data-dir DIR       LevelDB data directory (default ./data)
  --store KIND         level (durable, default) or memory (volatile)
  --durability MODE    fsync (default): acknowledge after a synced commit;
                       batch: synced every few ms; none: never synced
  --scram-users FILE   SCRAM-SHA-256 users file (enables MQTT 5 enhanced authentication)
  --config FILE        YAML or JSON file of options (or MIDGE_CONFIG); every option
                       can also be set as MIDGE_<NAME> (e.g. MIDGE_WS_PORT);
                       flags win over the environment, which wins over the file
  --print-config       print the effective configuration (YAML) and exit
  --log-level LEVEL    fatal|error|warn|info|debug|trace|silent (default info)
  --log-format FORMAT  json (default) or text (one readable line per entry)
  --http-port N        HTTP port for /metrics, /healthz, /readyz and the status
                       page (default 8080; 0 = any free port; -1 = off)
  --sys-interval SECS  seconds between $SYS updates (default 10; 0 = off)
  -h, --help           show this help
  -v, --version        show the version
       midge log list|stat|read ...   read the bridge's log store (midge log --help)`;

/** What the command line asks for. */
export type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; options: BrokerOptions }
  | { kind: 'print-config'; options: BrokerOptions };

function integer(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw new UsageError(`${flag} expects an integer, got "${value}"`);
  return Number(value); // the range is checked with the other options (config/schema.ts)
}

function choice<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

/** Joins `--flag -1` into `--flag=-1`: node's parseArgs takes a lone negative number for an option. */
function joinNegativeValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const next = argv[i + 1];
    if (arg.startsWith('--') && !arg.includes('=') && next !== undefined && /^-\d+$/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** Parses argv (without node and script) into a command; options come from flags, `MIDGE_*` env and the config file. */
export function parseCommandLine(argv: string[], env: Record<string, string | undefined> = process.env): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: joinNegativeValues(argv),
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        'ws-port': { type: 'string' },
        'ws-path': { type: 'string' },
        config: { type: 'string' },
        'data-dir': { type: 'string' },
        store: { type: 'string' },
        durability: { type: 'string' },
        'log-level': { type: 'string' },
        'log-format': { type: 'string' },
        'http-port': { type: 'string' },
        'sys-interval': { type: 'string' },
        'print-config': { type: 'boolean' },
        'scram-users': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message} (see midge --help)`);
  }
  const v = parsed.values;
  if (v.help) return { kind: 'help' };
  if (v.version) return { kind: 'version' };
  const fromFlags: BrokerOptions = {
    host: v.host,
    port: integer('--port', v.port),
    wsPort: integer('--ws-port', v['ws-port']),
    wsPath: v['ws-path'],
    logLevel: v['log-level'],
    dataDir: v['data-dir'],
    store: choice('--store', v.store, ['level', 'memory'] as const),
    durability: choice('--durability', v.durability, ['fsync', 'batch', 'none'] as const),
    logFormat: choice('--log-format', v['log-format'], ['json', 'text'] as const),
    httpPort: integer('--http-port', v['http-port']),
    sysInterval: integer('--sys-interval', v['sys-interval']),
    scramUsersFile: v['scram-users'],
  };
  const options = loadConfig({ file: v.config ?? env[CONFIG_ENV], env, flags: fromFlags });
  return { kind: v['print-config'] ? 'print-config' : 'run', options };
}
