import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
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
  --config FILE        JSON file with broker options (flags win over the file)
  --log-level LEVEL    fatal|error|warn|info|debug|trace|silent (default info)
  -h, --help           show this help
  -v, --version        show the version
       midge log list|stat|read ...   read the bridge's log store (midge log --help)`;

/** What the command line asks for. */
export type Command = { kind: 'help' } | { kind: 'version' } | { kind: 'run'; options: BrokerOptions };

function integer(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value)) throw new UsageError(`${flag} expects an integer, got "${value}"`);
  const n = Number(value);
  if (n < -1 || n > 65535) throw new UsageError(`${flag} must be from -1 to 65535, got ${n}`);
  return n;
}

function choice<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${flag} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

function readConfig(file: string): BrokerOptions {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(`config file ${file} must contain a JSON object of broker options`);
  }
  return parsed as BrokerOptions;
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

/** Parses argv (without node and script) into a command. */
export function parseCommandLine(argv: string[]): Command {
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
  const fromFile = v.config ? readConfig(v.config) : {};
  const fromFlags: BrokerOptions = {
    host: v.host,
    port: integer('--port', v.port),
    wsPort: integer('--ws-port', v['ws-port']),
    wsPath: v['ws-path'],
    logLevel: v['log-level'],
    dataDir: v['data-dir'],
    store: choice('--store', v.store, ['level', 'memory'] as const),
    durability: choice('--durability', v.durability, ['fsync', 'batch', 'none'] as const),
  };
  const options = { ...fromFile };
  for (const [key, value] of Object.entries(fromFlags)) {
    if (value !== undefined) (options as Record<string, unknown>)[key] = value;
  }
  return { kind: 'run', options };
}
