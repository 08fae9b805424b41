/**
 * The one table of options. Each entry gives an option's type and range (its zod schema), its
 * default, its command-line flag and its line in `midge --help`. The TypeScript type of the
 * options (options.ts), the schema that validates files, env and flags (schema.ts), the flags
 * and the help (cli/args.ts) and DEFAULTS are all generated from it, so none can drift.
 */
import { z } from 'zod';

/** One option's schema and, for messages, what it expects in words. */
export interface Field<T = unknown> {
  readonly schema: z.ZodType<T>;
  readonly expected: string;
}

function int(min: number, max: number): Field<number> {
  return { schema: z.number().int().min(min).max(max), expected: `an integer from ${min} to ${max}` };
}

function oneOf<const V extends readonly [string, ...string[]]>(values: V): Field<V[number]> {
  return { schema: z.enum(values) as unknown as z.ZodType<V[number]>, expected: values.join('|') };
}

function text(expected: string, min = 0): Field<string> {
  return { schema: min > 0 ? z.string().min(min) : z.string(), expected };
}

const BOOLEAN: Field<boolean> = { schema: z.boolean(), expected: 'true or false' };
const PORT = int(-1, 65535);
const MAX = Number.MAX_SAFE_INTEGER;
const FILE = text("a file path ('' = none)");

/** Where an option's line goes in `midge --help`. */
export type HelpGroup = 'Listeners' | 'Store' | 'Logs and monitoring' | 'Security' | 'Limits' | 'MQTT behaviour';

/** One row of the table. */
export interface OptionSpec<T> {
  readonly field: Field<T>;
  /** The default of `createBroker` (a library's default). */
  readonly default: NoInfer<T>;
  /** The `midge` command's default, where it differs (a server's default). */
  readonly cliDefault?: NoInfer<T>;
  /** The flag without `--`; default: the key in kebab case. null: no flag (file or env only). */
  readonly flag?: string | null;
  /** The flag's value in the help (N, FILE, ...); a boolean flag takes none. */
  readonly value?: string;
  /** The help line (without the default, which is appended from the table). */
  readonly help: string;
  readonly group: HelpGroup;
  /** The flag names a file whose first line is the value (a secret kept off the command line). */
  readonly flagReadsFile?: boolean;
  /** Printed as <redacted> by --print-config. */
  readonly secret?: boolean;
}

function opt<T>(spec: OptionSpec<T>): OptionSpec<T> {
  return spec;
}

/** Every option a config file, the environment or a flag can set. The TSDoc of each is what `BrokerOptions` shows. */
export const OPTIONS = {
  /** Interface to bind the MQTT listeners to. */
  host: opt({ field: text('a host name or address', 1), default: '0.0.0.0', value: 'ADDR', help: 'interface the MQTT listeners bind to', group: 'Listeners' }),
  /** TCP port; 0 picks a free port, -1 disables the TCP listener. */
  port: opt({ field: PORT, default: 1883, value: 'N', help: 'MQTT over TCP port (0 = any free port; -1 = off)', group: 'Listeners' }),
  /** WebSocket port; 0 picks a free port, -1 disables the WebSocket listener. */
  wsPort: opt({ field: PORT, default: 8083, value: 'N', help: 'MQTT over WebSocket port (0 = any free port; -1 = off)', group: 'Listeners' }),
  /** WebSocket path. */
  wsPath: opt({ field: { schema: z.string().startsWith('/'), expected: 'a path starting with /' }, default: '/mqtt', value: 'PATH', help: 'WebSocket path', group: 'Listeners' }),
  /** TLS port, used when `tlsCert` is set; 0 picks a free port, -1 disables it. */
  tlsPort: opt({ field: PORT, default: 8883, value: 'N', help: 'MQTT over TLS port, with --cert (-1 = off)', group: 'Listeners' }),
  /** WebSocket-over-TLS port, used when `tlsCert` is set; 0 picks a free port, -1 disables it. */
  wssPort: opt({ field: PORT, default: 8084, value: 'N', help: 'MQTT over secure WebSocket port, with --cert (-1 = off)', group: 'Listeners' }),
  /** HTTP port for /metrics, /healthz, /readyz and the status page; 0 picks a free port, -1 (createBroker's default) disables it. */
  httpPort: opt({ field: PORT, default: -1, cliDefault: 8080, value: 'N', help: 'HTTP port for /metrics, /healthz, /readyz and the status page (0 = any free port; -1 = off)', group: 'Listeners' }),
  /** Require an API token or user (midge admin) for /metrics too; /healthz and /readyz stay open. */
  metricsAuth: opt({ field: BOOLEAN, default: false, help: 'require an API token or user (midge admin) for /metrics too', group: 'Logs and monitoring' }),
  /** Interface the HTTP listener binds to; loopback by default, so /metrics and the status page stay on this machine. */
  httpHost: opt({ field: text('a host name or address', 1), default: '127.0.0.1', value: 'ADDR', help: 'interface the HTTP listener binds to (0.0.0.0 = every interface)', group: 'Listeners' }),

  /** Where state is mirrored: 'level' (LevelDB in `dataDir`) or 'memory' (lost when the process exits); createBroker also takes a Store object. */
  store: opt({ field: oneOf(['level', 'memory']), default: 'memory', cliDefault: 'level', value: 'KIND', help: 'level (LevelDB, durable) or memory (volatile)', group: 'Store' }),
  /** Directory of the LevelDB store. */
  dataDir: opt({ field: text('a directory path', 1), default: './data', value: 'DIR', help: 'LevelDB data directory', group: 'Store' }),
  /** When acknowledged data is on disk: 'fsync' (every acknowledgement waits for a synced commit), 'batch' (synced every few ms) or 'none'. */
  durability: opt({ field: oneOf(['fsync', 'batch', 'none']), default: 'fsync', value: 'MODE', help: 'fsync: acknowledge after a synced commit; batch: synced every few ms; none: never synced', group: 'Store' }),
  /** With the LevelDB store, queued messages a session keeps in memory; the rest wait on disk. */
  queuePageSize: opt({ field: int(2, 1_000_000), default: 1000, value: 'N', help: 'queued messages a session keeps in memory (level store); the rest wait on disk', group: 'Store' }),

  /**
   * With the LevelDB store, bytes a persistent session's queue may hold on disk (payload plus about
   * 100 bytes per message), in place of maxQueuedMessages/maxQueuedBytes as the point where
   * queueOverflow applies; memory still holds about queuePageSize messages. 0 = bound it as in memory.
   */
  maxQueuedDiskBytes: opt({ field: int(0, MAX), default: 256 * 1024 * 1024, value: 'N', help: "bytes a persistent session's queue may hold on disk (level store; 0 = the memory bounds apply)", group: 'Store' }),
  /** With the LevelDB store, bytes all queues together may hold on disk; beyond it a queue grows no further than its memory bounds. */
  queueDiskBudget: opt({ field: int(0, MAX), default: 2 * 1024 * 1024 * 1024, value: 'N', help: 'bytes all session queues together may hold on disk (level store)', group: 'Store' }),

  /** pino level: fatal, error, warn, info, debug, trace or silent. */
  logLevel: opt({ field: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), default: 'info', value: 'LEVEL', help: 'fatal|error|warn|info|debug|trace|silent', group: 'Logs and monitoring' }),
  /** Log format: 'json' (one pino object per line), 'text' (one readable line per entry, local time) or 'auto' (text when standard output is a terminal, json otherwise). */
  logFormat: opt({ field: oneOf(['auto', 'json', 'text']), default: 'auto', value: 'FORMAT', help: 'json (one object per line), text (one readable line per entry, local time) or auto (text on a terminal, json otherwise)', group: 'Logs and monitoring' }),
  /** Seconds between $SYS publications; 0 disables $SYS. */
  sysInterval: opt({ field: int(0, 86_400), default: 10, value: 'SECS', help: 'seconds between $SYS updates (0 = off)', group: 'Logs and monitoring' }),
  /** Milliseconds a graceful shutdown (SIGTERM) may take before the process exits anyway. */
  shutdownTimeout: opt({ field: int(100, 600_000), default: 10_000, value: 'MS', help: 'how long a graceful shutdown may take before the process exits anyway', group: 'Logs and monitoring' }),

  /** PEM certificate (chain) file of the TLS and WSS listeners; '' means no TLS. */
  tlsCert: opt({ field: FILE, default: '', flag: 'cert', value: 'FILE', help: 'PEM certificate (chain): enables the TLS and WSS listeners', group: 'Security' }),
  /** PEM private key file of `tlsCert`. */
  tlsKey: opt({ field: FILE, default: '', flag: 'key', value: 'FILE', help: 'PEM private key of --cert', group: 'Security' }),
  /** PEM CA file that client certificates are verified against; setting it asks clients for a certificate. */
  tlsCa: opt({ field: FILE, default: '', flag: 'ca', value: 'FILE', help: 'CA for client certificates (clients are asked for one)', group: 'Security' }),
  /** Refuse TLS clients without a certificate signed by `tlsCa` (mTLS). */
  requireClientCert: opt({ field: BOOLEAN, default: false, help: 'refuse TLS clients without a valid certificate (mTLS)', group: 'Security' }),
  /** Use the verified client certificate's Common Name as the username (it then authenticates the client). */
  certAsUsername: opt({ field: BOOLEAN, default: false, help: "the client certificate's CN is the username", group: 'Security' }),
  /** Password file (`midge passwd`); when set, clients must authenticate. */
  passwordFile: opt({ field: FILE, default: '', value: 'FILE', help: 'users and password hashes (midge passwd); clients must authenticate', group: 'Security' }),
  /** ACL file; when set, every publish, subscription and delivery is checked and denied by default. */
  aclFile: opt({ field: FILE, default: '', value: 'FILE', help: 'access rules; deny by default once set', group: 'Security' }),
  /** Accept clients without credentials even though a password file or JWT is configured. */
  allowAnonymous: opt({ field: BOOLEAN, default: false, help: 'accept clients without credentials despite a password file or JWT', group: 'Security' }),
  /** Shared secret (HS256/384/512) that JWT passwords are verified against. */
  jwtSecret: opt({ field: text('a string'), default: '', flag: 'jwt-secret-file', value: 'FILE', help: 'file holding the shared secret for JWT passwords (HS256/384/512)', group: 'Security', flagReadsFile: true, secret: true }),
  /** JWKS file (JSON) whose public keys JWT passwords are verified against. */
  jwtJwksFile: opt({ field: FILE, default: '', flag: 'jwt-jwks', value: 'FILE', help: 'JWKS file for JWT passwords', group: 'Security' }),
  /** JWT claim that gives the username. */
  jwtUsernameClaim: opt({ field: text('a claim name', 1), default: 'sub', value: 'CLAIM', help: 'JWT claim that gives the username', group: 'Security' }),
  /** JWT claim with the allowed topic patterns (an array, or { publish, subscribe } arrays); absent means no restriction from the token. */
  jwtTopicsClaim: opt({ field: text('a claim name'), default: 'topics', value: 'CLAIM', help: 'JWT claim with the allowed topic patterns', group: 'Security' }),
  /** Required JWT issuer ('' = not checked). */
  jwtIssuer: opt({ field: text('a string'), default: '', value: 'S', help: 'required JWT iss', group: 'Security' }),
  /** Required JWT audience ('' = not checked). */
  jwtAudience: opt({ field: text('a string'), default: '', value: 'S', help: 'required JWT aud', group: 'Security' }),
  /** A SCRAM users file (`user:SCRAM-SHA-256$i:salt$StoredKey:ServerKey` lines) enabling SCRAM-SHA-256 enhanced authentication; '' disables it. */
  scramUsersFile: opt({ field: text('a file path'), default: '', flag: 'scram-users', value: 'FILE', help: 'SCRAM-SHA-256 users file (enables MQTT 5 enhanced authentication)', group: 'Security' }),

  /** Largest packet accepted from clients, in bytes (advertised as Maximum Packet Size). */
  maxPacketSize: opt({ field: int(64, 268_435_455), default: 1024 * 1024, value: 'N', help: 'largest packet accepted, in bytes', group: 'Limits' }),
  /** Milliseconds a socket may stay open without sending CONNECT. */
  connectTimeout: opt({ field: int(1, 3_600_000), default: 10_000, value: 'MS', help: 'time a socket may stay open without sending CONNECT', group: 'Limits' }),
  /** Longest topic name or filter accepted, in UTF-8 bytes. */
  maxTopicLength: opt({ field: int(1, 65535), default: 4096, value: 'N', help: 'longest topic name or filter, in bytes', group: 'Limits' }),
  /** Most levels a topic name or filter may have. */
  maxTopicLevels: opt({ field: int(1, 65535), default: 200, value: 'N', help: 'most levels in a topic name or filter', group: 'Limits' }),
  /** Longest client identifier accepted, in UTF-8 bytes. */
  maxClientIdLength: opt({ field: int(23, 65535), default: 256, value: 'N', help: 'longest client identifier, in bytes', group: 'Limits' }), // [MQTT-3.1.3-5] 1 to 23 bytes must be allowed
  /** Open connections in total (before and after CONNECT); 0 = no limit. */
  maxConnections: opt({ field: int(0, MAX), default: 50_000, value: 'N', help: 'open connections in total (0 = no limit)', group: 'Limits' }),
  /** Open connections per source IP address; 0 = no limit. */
  maxConnectionsPerIp: opt({ field: int(0, MAX), default: 0, value: 'N', help: 'open connections per source address (0 = no limit)', group: 'Limits' }),
  /** PUBLISH packets per second read from one client; above it reads pause (0 = no limit). */
  publishRateMessages: opt({ field: int(0, MAX), default: 0, flag: 'publish-rate', value: 'N', help: 'PUBLISH packets/s per client, then reads pause (0 = off)', group: 'Limits' }),
  /** PUBLISH bytes per second read from one client; above it reads pause (0 = no limit). */
  publishRateBytes: opt({ field: int(0, MAX), default: 0, value: 'N', help: 'PUBLISH bytes/s per client, then reads pause (0 = off)', group: 'Limits' }),
  /** Subscriptions one session may hold (SUBACK 0x97 above it); 0 = no limit. */
  maxSubscriptionsPerClient: opt({ field: int(0, MAX), default: 10_000, flag: 'max-subscriptions', value: 'N', help: 'subscriptions per client (0 = no limit)', group: 'Limits' }),
  /** Outbound QoS 1/2 window per client (further capped by the client's Receive Maximum). */
  maxInflight: opt({ field: int(1, 65535), default: 100, value: 'N', help: 'outbound QoS 1/2 messages in flight per client', group: 'Limits' }),
  /** Messages queued per session, for offline clients or a full window. */
  maxQueuedMessages: opt({ field: int(0, MAX), default: 1000, value: 'N', help: 'messages queued per session', group: 'Limits' }),
  /** Payload bytes queued per session. */
  maxQueuedBytes: opt({ field: int(0, MAX), default: 16 * 1024 * 1024, value: 'N', help: 'payload bytes queued per session', group: 'Limits' }),
  /**
   * Milliseconds without an acknowledgement after which a subscriber counts as stalled. While a
   * connected subscriber acknowledged something within it, a full queue holds back the publishers
   * that feed it (their PUBACK/PUBREC are withheld) instead of dropping; a stalled or offline one
   * never holds anyone back. 0 turns flow control off (a full queue always applies queueOverflow).
   */
  stallTimeout: opt({ field: int(0, 86_400_000), default: 10_000, value: 'MS', help: 'time without an acknowledgement after which a subscriber is stalled; until then a full queue holds its publishers back (0 = never hold, drop)', group: 'Limits' }),
  /** What happens when a queue is full. */
  queueOverflow: opt({ field: oneOf(['drop-oldest', 'drop-new']), default: 'drop-oldest', value: 'POLICY', help: 'drop-oldest or drop-new when a queue is full', group: 'Limits' }),
  /** Bytes waiting in a client's socket buffer above which QoS 0 messages to it are dropped. */
  maxWriteBuffer: opt({ field: int(1024, MAX), default: 8 * 1024 * 1024, value: 'N', help: "bytes in a client's socket buffer above which QoS 0 messages to it are dropped", group: 'Limits' }),
  /** Milliseconds a client's write buffer may stay above `maxWriteBuffer` before it is disconnected; 0 = never. */
  slowConsumerTimeout: opt({ field: int(0, 86_400_000), default: 30_000, value: 'MS', help: 'disconnect a client that stopped reading (0 = never)', group: 'Limits' }),
  /** Packets buffered per connection while an earlier one is processed, before reads pause. */
  maxPendingPackets: opt({ field: int(1, 1_000_000), default: 1000, value: 'N', help: 'packets buffered per connection before reads pause', group: 'Limits' }),

  /** Cap on the client's keepalive in seconds (MQTT 5 Server Keep Alive); 0 means no cap. */
  maxKeepAlive: opt({ field: int(0, 65535), default: 0, value: 'SECS', help: "cap on the client's keepalive (0 = no cap)", group: 'MQTT behaviour' }),
  /** Receive Maximum the broker advertises: inbound QoS 2 publishes awaiting PUBREL per client (QoS 1 is acknowledged once stored, so it never counts); above it the client is disconnected (0x93). */
  receiveMaximum: opt({ field: int(1, 65535), default: 100, value: 'N', help: 'inbound QoS 2 publishes awaiting PUBREL per client (MQTT 5 Receive Maximum; QoS 1 is acknowledged at once)', group: 'MQTT behaviour' }),
  /** Topic Alias Maximum the broker advertises for inbound aliases (0 disables them). */
  topicAliasMaximum: opt({ field: int(0, 65535), default: 10, value: 'N', help: 'inbound topic aliases per client (0 = none)', group: 'MQTT behaviour' }),
  /** Send MQTT 5 clients outbound topic aliases, up to the Topic Alias Maximum each one sets (least recently used reassigned). */
  topicAliasOutbound: opt({ field: BOOLEAN, default: true, help: 'send MQTT 5 clients outbound topic aliases', group: 'MQTT behaviour' }),
  /** Upper bound on a session's expiry interval, in seconds. */
  maxSessionExpiryInterval: opt({ field: int(0, 0xffffffff), default: 0xffffffff, value: 'SECS', help: "upper bound on a session's expiry interval", group: 'MQTT behaviour' }),
  /** How a shared subscription group picks the member that gets a message. */
  sharedSubscriptionStrategy: opt({ field: oneOf(['round-robin', 'random', 'sticky']), default: 'round-robin', value: 'S', help: 'round-robin|random|sticky: which member of a shared group gets a message', group: 'MQTT behaviour' }),
  /** MQTT 5 Response Information sent (followed by the client id) to a client that requests it; '' sends none. */
  responseInformationPrefix: opt({ field: text('a string'), default: 'response/', value: 'S', help: "MQTT 5 Response Information prefix ('' = none)", group: 'MQTT behaviour' }),
  /** Refuse a message whose Payload Format Indicator says UTF-8 when its payload is not (reason code 0x99). */
  validatePayloadFormat: opt({ field: BOOLEAN, default: true, help: 'refuse a payload marked UTF-8 that is not', group: 'MQTT behaviour' }),

  /**
   * Cluster mode on NATS JetStream (docs/cluster.md): `servers` (comma-separated or a list), this
   * node's `nodeId`, the subject and stream `prefix` ('midge'), the JetStream `replicas` (1) and
   * how long a log sink's lease outlives its holder's last renewal, `sinkLeaseSeconds` (10).
   * Without it Midge is one process.
   */
  cluster: opt<{ servers: string | string[]; nodeId: string; prefix?: string | undefined; replicas?: number | undefined; sinkLeaseSeconds?: number | undefined } | undefined>({
    field: {
      schema: z.strictObject({
        servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
        nodeId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
        prefix: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/).optional(),
        replicas: z.number().int().min(1).max(5).optional(),
        sinkLeaseSeconds: z.number().min(1).max(300).optional(),
      }),
      expected: 'an object { servers: "nats://host:4222[,…]", nodeId: [A-Za-z0-9_-]{1,64}, prefix?: [A-Za-z0-9_-]{1,32}, replicas?: 1..5, sinkLeaseSeconds?: 1..300 }',
    },
    default: undefined,
    flag: null,
    help: 'cluster mode on NATS JetStream (--cluster and --node-id, or the config file)',
    group: 'Store',
  }),
  /** Bridge to a log store: streams (retention), rules (topic filter → stream) and sinks (NATS, Redis, Kafka); checked in depth by src/bridge/config.ts. */
  bridge: opt<Record<string, unknown> | undefined>({
    field: { schema: z.record(z.string(), z.unknown()), expected: 'an object { streams, rules, sinks, overflow } (see README, Bridge)' },
    default: undefined,
    flag: null,
    help: 'the log bridge (config file only)',
    group: 'Store',
  }),
  /** MQTT bridges to other brokers (see the README, MQTT bridges); checked in depth by src/mqtt-bridge/config.ts. */
  bridges: opt<Record<string, unknown>[] | undefined>({
    field: { schema: z.array(z.record(z.string(), z.unknown())), expected: 'a list of bridges { name, url, topics, ... } (see README, MQTT bridges)' },
    default: undefined,
    flag: null,
    help: 'MQTT bridges to other brokers (config file only)',
    group: 'Store',
  }),
} as const;

/** An option's name. */
export type OptionKey = keyof typeof OPTIONS;

/** The value type of each option, as the table's schemas give it. */
export type OptionValues = { -readonly [K in OptionKey]: (typeof OPTIONS)[K] extends OptionSpec<infer T> ? T : never };

/** The table's entries, for code that walks every option. */
export function optionEntries(): [OptionKey, OptionSpec<unknown>][] {
  return Object.entries(OPTIONS) as [OptionKey, OptionSpec<unknown>][];
}

/** `wsPort` → `ws-port`, or the table's own flag name; undefined when the option has no flag. */
export function flagOf(key: OptionKey): string | undefined {
  const spec: OptionSpec<unknown> = OPTIONS[key];
  if (spec.flag === null) return undefined;
  return spec.flag ?? key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
