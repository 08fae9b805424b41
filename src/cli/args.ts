import { readFileSync } from 'node:fs';
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
 Security (see README, Security):
  --cert FILE --key FILE   PEM certificate and key: enables the TLS and WSS listeners
  --tls-port N         MQTT over TLS port (default 8883; -1 = off)
  --wss-port N         MQTT over secure WebSocket port (default 8084; -1 = off)
  --ca FILE            CA for client certificates (clients are asked for one)
  --require-client-cert  refuse TLS clients without a valid certificate (mTLS)
  --cert-as-username   the client certificate's CN is the username
  --password-file FILE users and scrypt hashes (midge passwd FILE USER)
  --acl-file FILE      access rules; deny by default once set
  --allow-anonymous    accept clients without credentials despite a password file or JWT
  --jwt-secret-file FILE  shared secret for JWT passwords (HS256/384/512)
  --jwt-jwks FILE      JWKS file for JWT passwords
  --jwt-username-claim C (default sub)   --jwt-topics-claim C (default topics)
  --jwt-issuer S --jwt-audience S        required iss / aud
  --max-packet-size N (default 1048576)  --connect-timeout MS (default 10000)
  --max-topic-length N (default 4096)    --max-topic-levels N (default 200)
  --max-client-id-length N (default 256)
  --max-connections N (default 10000)    --max-connections-per-ip N (default 0 = no limit)
  --publish-rate N     PUBLISH packets/s per client, then reads pause (default 0 = off)
  --publish-rate-bytes N  PUBLISH bytes/s per client (default 0 = off)
  --max-subscriptions N  per client (default 10000)
  --max-inflight N (default 100)  --max-queued-messages N (default 1000)  --max-queued-bytes N
  --slow-consumer-timeout MS  disconnect a client that stopped reading (default 30000; 0 = never)
  midge passwd FILE USER [--stdin] | -D FILE USER   manage a password file
  midge admin add-token|add-user|list|remove ...   HTTP API tokens and users (midge admin --help)
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

function count(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new UsageError(`${flag} expects a non-negative integer, got "${value}"`);
  return Number(value);
}

function secretFile(flag: string, file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
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
        'tls-port': { type: 'string' },
        'wss-port': { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
        ca: { type: 'string' },
        'require-client-cert': { type: 'boolean' },
        'cert-as-username': { type: 'boolean' },
        'password-file': { type: 'string' },
        'acl-file': { type: 'string' },
        'allow-anonymous': { type: 'boolean' },
        'jwt-secret-file': { type: 'string' },
        'jwt-jwks': { type: 'string' },
        'jwt-username-claim': { type: 'string' },
        'jwt-topics-claim': { type: 'string' },
        'jwt-issuer': { type: 'string' },
        'jwt-audience': { type: 'string' },
        'max-packet-size': { type: 'string' },
        'connect-timeout': { type: 'string' },
        'max-topic-length': { type: 'string' },
        'max-topic-levels': { type: 'string' },
        'max-client-id-length': { type: 'string' },
        'max-connections': { type: 'string' },
        'max-connections-per-ip': { type: 'string' },
        'publish-rate': { type: 'string' },
        'publish-rate-bytes': { type: 'string' },
        'max-subscriptions': { type: 'string' },
        'max-inflight': { type: 'string' },
        'max-queued-messages': { type: 'string' },
        'max-queued-bytes': { type: 'string' },
        'slow-consumer-timeout': { type: 'string' },
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
    tlsPort: integer('--tls-port', v['tls-port']),
    wssPort: integer('--wss-port', v['wss-port']),
    tlsCert: v.cert,
    tlsKey: v.key,
    tlsCa: v.ca,
    requireClientCert: v['require-client-cert'],
    certAsUsername: v['cert-as-username'],
    passwordFile: v['password-file'],
    aclFile: v['acl-file'],
    allowAnonymous: v['allow-anonymous'],
    jwtSecret: secretFile('--jwt-secret-file', v['jwt-secret-file']),
    jwtJwksFile: v['jwt-jwks'],
    jwtUsernameClaim: v['jwt-username-claim'],
    jwtTopicsClaim: v['jwt-topics-claim'],
    jwtIssuer: v['jwt-issuer'],
    jwtAudience: v['jwt-audience'],
    maxPacketSize: count('--max-packet-size', v['max-packet-size']),
    connectTimeout: count('--connect-timeout', v['connect-timeout']),
    maxTopicLength: count('--max-topic-length', v['max-topic-length']),
    maxTopicLevels: count('--max-topic-levels', v['max-topic-levels']),
    maxClientIdLength: count('--max-client-id-length', v['max-client-id-length']),
    maxConnections: count('--max-connections', v['max-connections']),
    maxConnectionsPerIp: count('--max-connections-per-ip', v['max-connections-per-ip']),
    publishRateMessages: count('--publish-rate', v['publish-rate']),
    publishRateBytes: count('--publish-rate-bytes', v['publish-rate-bytes']),
    maxSubscriptionsPerClient: count('--max-subscriptions', v['max-subscriptions']),
    maxInflight: count('--max-inflight', v['max-inflight']),
    maxQueuedMessages: count('--max-queued-messages', v['max-queued-messages']),
    maxQueuedBytes: count('--max-queued-bytes', v['max-queued-bytes']),
    slowConsumerTimeout: count('--slow-consumer-timeout', v['slow-consumer-timeout']),
  };
  const options = loadConfig({ file: v.config ?? env[CONFIG_ENV], env, flags: fromFlags });
  return { kind: v['print-config'] ? 'print-config' : 'run', options };
}
