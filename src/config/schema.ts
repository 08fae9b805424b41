import { z } from 'zod';

/** One option: its zod schema and, for messages, what it expects in words. */
interface Field {
  readonly schema: z.ZodType;
  readonly expected: string;
}

function int(min: number, max: number): Field {
  return { schema: z.number().int().min(min).max(max), expected: `an integer from ${min} to ${max}` };
}

function oneOf(values: readonly [string, ...string[]]): Field {
  return { schema: z.enum(values), expected: values.join('|') };
}

const BOOLEAN: Field = { schema: z.boolean(), expected: 'true or false' };
const PORT = int(-1, 65535);
const MAX = Number.MAX_SAFE_INTEGER;
const FILE: Field = { schema: z.string(), expected: "a file path ('' = none)" };

/**
 * The options a config file, the environment or a flag can set (everything but the programmatic
 * logger, plugins and Store object). Defaults live in options.ts; this says what each may hold.
 */
export const CONFIG_FIELDS: Record<string, Field> = {
  host: { schema: z.string().min(1), expected: 'a host name or address' },
  port: PORT,
  wsPort: PORT,
  wsPath: { schema: z.string().startsWith('/'), expected: 'a path starting with /' },
  httpPort: PORT,
  logLevel: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  logFormat: oneOf(['json', 'text']),
  maxInflight: int(1, 65535),
  maxQueuedMessages: int(0, MAX),
  maxQueuedBytes: int(0, MAX),
  queueOverflow: oneOf(['drop-oldest', 'drop-new']),
  queuePageSize: int(2, 1_000_000),
  maxPacketSize: int(64, 268_435_455),
  maxKeepAlive: int(0, 65535),
  connectTimeout: int(1, 3_600_000),
  receiveMaximum: int(1, 65535),
  topicAliasMaximum: int(0, 65535),
  topicAliasOutbound: BOOLEAN,
  maxSessionExpiryInterval: int(0, 0xffffffff),
  maxWriteBuffer: int(1024, MAX),
  maxPendingPackets: int(1, 1_000_000),
  store: oneOf(['level', 'memory']),
  dataDir: { schema: z.string().min(1), expected: 'a directory path' },
  durability: oneOf(['fsync', 'batch', 'none']),
  sharedSubscriptionStrategy: oneOf(['round-robin', 'random', 'sticky']),
  responseInformationPrefix: { schema: z.string(), expected: 'a string' },
  validatePayloadFormat: BOOLEAN,
  scramUsersFile: { schema: z.string(), expected: 'a file path' },
  sysInterval: int(0, 86_400),
  shutdownTimeout: int(100, 600_000),
  // Security and limits (README, Security)
  tlsPort: PORT,
  wssPort: PORT,
  tlsCert: FILE,
  tlsKey: FILE,
  tlsCa: FILE,
  requireClientCert: BOOLEAN,
  certAsUsername: BOOLEAN,
  passwordFile: FILE,
  aclFile: FILE,
  allowAnonymous: BOOLEAN,
  jwtSecret: { schema: z.string(), expected: 'a string' },
  jwtJwksFile: FILE,
  jwtUsernameClaim: { schema: z.string().min(1), expected: 'a claim name' },
  jwtTopicsClaim: { schema: z.string(), expected: 'a claim name' },
  jwtIssuer: { schema: z.string(), expected: 'a string' },
  jwtAudience: { schema: z.string(), expected: 'a string' },
  maxTopicLength: int(1, 65535),
  maxTopicLevels: int(1, 65535),
  maxClientIdLength: int(23, 65535), // [MQTT-3.1.3-5] 1 to 23 bytes must be allowed
  maxConnections: int(0, MAX),
  maxConnectionsPerIp: int(0, MAX),
  publishRateMessages: int(0, MAX),
  publishRateBytes: int(0, MAX),
  maxSubscriptionsPerClient: int(0, MAX),
  slowConsumerTimeout: int(0, 86_400_000),
  cluster: {
    schema: z.strictObject({
      servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
      nodeId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
      prefix: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/).optional(),
      replicas: z.number().int().min(1).max(5).optional(),
    }),
    expected: 'an object { servers: "nats://host:4222[,…]", nodeId: [A-Za-z0-9_-]{1,64}, prefix?: [A-Za-z0-9_-]{1,32}, replicas?: 1..5 }',
  },
  // Checked in depth by resolveBridgeOptions (src/bridge/config.ts), which names the nested key
  bridge: { schema: z.record(z.string(), z.unknown()), expected: 'an object { streams, rules, sinks, overflow } (see README, Bridge)' },
  // Checked in depth by resolveMqttBridges (src/mqtt-bridge/config.ts), which names the nested key
  bridges: { schema: z.array(z.record(z.string(), z.unknown())), expected: 'a list of bridges { name, url, topics, ... } (see README, MQTT bridges)' },
};

const PROGRAMMATIC_FIELDS: Record<string, Field> = {
  logger: { schema: z.custom((v) => typeof v === 'object' && v !== null && typeof (v as { info?: unknown }).info === 'function'), expected: 'a pino logger' },
  plugins: { schema: z.array(z.custom((v) => typeof v === 'object' && v !== null)), expected: 'an array of plugin objects' },
  store: {
    schema: z.union([z.enum(['level', 'memory']), z.custom((v) => typeof v === 'object' && v !== null && typeof (v as { open?: unknown }).open === 'function')]),
    expected: 'level|memory or a Store object',
  },
};

function objectOf(fields: Record<string, Field>): z.ZodType {
  return z.strictObject(Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, f.schema.optional()])));
}

const BROKER_FIELDS = { ...CONFIG_FIELDS, ...PROGRAMMATIC_FIELDS };
/** Every option a file, env var or flag may set; all optional, unknown keys refused. */
export const configSchema = objectOf(CONFIG_FIELDS);
/** What `createBroker` accepts: the config options plus a logger, plugins and a Store object. */
export const brokerOptionsSchema = objectOf(BROKER_FIELDS);

/** One line per problem: `key.path: expected …, found …`, or an unknown key with the closest known one. */
export function describeIssues(schema: z.ZodType, input: unknown, issues: readonly z.core.$ZodIssue[], name = keyPath): string[] {
  return issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys
        .map((key) => {
          const known = knownKeysAt(schema, issue.path);
          const hint = closest(key, known);
          return `${name([...issue.path, key])}: unknown option${hint ? ` (did you mean ${name([...issue.path, hint])}?)` : ''}`;
        })
        .join('; ');
    }
    const top = typeof issue.path[0] === 'string' && issue.path.length === 1 ? issue.path[0] : undefined;
    const field = top === undefined ? undefined : (schema === configSchema ? CONFIG_FIELDS : BROKER_FIELDS)[top];
    const expected = field?.expected ?? issue.message.replace(/^Invalid input: /, '');
    return `${name(issue.path)}: expected ${expected}, found ${show(valueAt(input, issue.path))}`;
  });
}

/** `a.b[0].c` from a zod path. */
export function keyPath(path: readonly PropertyKey[]): string {
  return path.map((seg, i) => (typeof seg === 'number' ? `[${seg}]` : i === 0 ? String(seg) : `.${String(seg)}`)).join('');
}

function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'function') return 'a function';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const seg of path) v = typeof v === 'object' && v !== null ? (v as Record<PropertyKey, unknown>)[seg] : undefined;
  return v;
}

type Shaped = { shape?: Record<string, z.ZodType>; element?: z.ZodType; unwrap?: () => z.ZodType };

function knownKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] {
  const unwrap = (s: z.ZodType | undefined): Shaped | undefined => {
    let cur = s as Shaped | undefined;
    for (let i = 0; i < 8 && cur?.unwrap && !cur.shape; i++) cur = cur.unwrap() as Shaped;
    return cur;
  };
  let s = unwrap(schema);
  for (const seg of path) {
    s = unwrap(typeof seg === 'number' ? s?.element : s?.shape?.[String(seg)]);
    if (!s) return [];
  }
  return s?.shape ? Object.keys(s.shape) : [];
}

/** The known key nearest to `key` (ignoring case, `_` and `-`), when it is near enough to be a typo. */
export function closest(key: string, known: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, '');
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = distance(norm(key), norm(candidate));
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost));
    }
    prev = cur;
  }
  return prev[b.length] as number;
}
