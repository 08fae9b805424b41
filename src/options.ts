import type { Logger } from 'pino';
import { BrokerError } from './errors.js';
import { brokerOptionsSchema, describeIssues } from './config/schema.js';
import type { Plugin } from './hooks.js';
import type { OverflowPolicy } from './broker/queue.js';
import type { SharedStrategy } from './broker/topic-tree.js';
import type { Durability } from './store/level.js';
import type { Store } from './store/store.js';
import { resolveBridgeOptions, type BridgeConfig, type BridgeOptions } from './bridge/config.js';
import type { ClusterOptions } from './cluster/cluster.js';
import { resolveMqttBridges, type MqttBridgeConfig, type MqttBridgeOptions } from './mqtt-bridge/config.js';
import { hostname } from 'node:os';

/** Options accepted by `createBroker`. Every field is optional; defaults are in DEFAULTS. */
export interface BrokerOptions {
  /** Interface to bind the listeners to. */
  host?: string;
  /** TCP port; 0 picks a free port, -1 disables the TCP listener. */
  port?: number;
  /** WebSocket port; 0 picks a free port, -1 disables the WebSocket listener. */
  wsPort?: number;
  /** WebSocket path. */
  wsPath?: string;
  /** pino level: fatal, error, warn, info, debug, trace or silent. */
  logLevel?: string;
  /** A pino logger to use instead of creating one. */
  logger?: Logger;
  /** Outbound QoS 1/2 window per client (further capped by the client's Receive Maximum). */
  maxInflight?: number;
  /** Messages queued per session, for offline clients or a full window. */
  maxQueuedMessages?: number;
  /** Payload bytes queued per session. */
  maxQueuedBytes?: number;
  /** What happens when a queue is full. */
  queueOverflow?: OverflowPolicy;
  /** With the LevelDB store, queued messages a session keeps in memory; the rest wait on disk. */
  queuePageSize?: number;
  /** Largest packet accepted from clients, in bytes (advertised as Maximum Packet Size). */
  maxPacketSize?: number;
  /** Cap on the client's keepalive in seconds (MQTT 5 Server Keep Alive); 0 means no cap. */
  maxKeepAlive?: number;
  /** Milliseconds a socket may stay open without sending CONNECT. */
  connectTimeout?: number;
  /** Receive Maximum the broker advertises: unacknowledged inbound QoS 1/2 publishes per client. */
  receiveMaximum?: number;
  /** Topic Alias Maximum the broker advertises for inbound aliases (0 disables them). */
  topicAliasMaximum?: number;
  /** Send MQTT 5 clients outbound topic aliases, up to the Topic Alias Maximum each one sets (least recently used reassigned). */
  topicAliasOutbound?: boolean;
  /** Upper bound on a session's expiry interval, in seconds. */
  maxSessionExpiryInterval?: number;
  /** Bytes waiting in a client's socket buffer above which QoS 0 messages to it are dropped. */
  maxWriteBuffer?: number;
  /** Packets buffered per connection while an earlier one is processed, before reads pause. */
  maxPendingPackets?: number;
  /** Plugins, called in order. */
  plugins?: Plugin[];
  /**
   * Where state is mirrored: 'level' (LevelDB in `dataDir`, the default), 'memory' (lost when the
   * process exits), or a Store object.
   */
  store?: 'level' | 'memory' | Store;
  /** Directory of the LevelDB store. */
  dataDir?: string;
  /** When acknowledged data is on disk: 'fsync' (every acknowledgement waits for a synced commit), 'batch' (synced every few ms) or 'none'. */
  durability?: Durability;
  /** How a shared subscription group picks the member that gets a message. */
  sharedSubscriptionStrategy?: SharedStrategy;
  /** MQTT 5 Response Information sent (followed by the client id) to a client that requests it; '' sends none. */
  responseInformationPrefix?: string;
  /** Refuse a message whose Payload Format Indicator says UTF-8 when its payload is not (reason code 0x99). */
  validatePayloadFormat?: boolean;
  /** HTTP port for /metrics, /healthz, /readyz and the status page; 0 picks a free port, -1 disables it. */
  httpPort?: number;
  /** Log format: 'json' (one pino object per line) or 'text' (one readable line per entry). */
  logFormat?: 'json' | 'text';
  /** Seconds between $SYS publications; 0 disables $SYS. */
  sysInterval?: number;
  /** Milliseconds a graceful shutdown (SIGTERM) may take before the process exits anyway. */
  shutdownTimeout?: number;
  /** A SCRAM users file (`user:SCRAM-SHA-256$i:salt$StoredKey:ServerKey` lines) enabling SCRAM-SHA-256 enhanced authentication; '' disables it. */
  scramUsersFile?: string;
  /** Bridge to a log store: streams (retention), rules (topic filter → stream) and sinks (NATS, Redis, Kafka). */
  bridge?: BridgeOptions;
  /**
   * Cluster mode on NATS JetStream (docs/cluster.md): `servers` (comma-separated or a list),
   * this node's `nodeId`, the subject and stream `prefix` ('midge') and the JetStream `replicas` (1).
   * Without it Midge is one process, as before.
   */
  cluster?: { servers: string | string[]; nodeId: string; prefix?: string; replicas?: number };
  /** MQTT bridges to other brokers (see the README, MQTT bridges). */
  bridges?: MqttBridgeOptions[];

  // Security and limits (see the README's Security section)
  /** TLS port, used when `tlsCert` is set; 0 picks a free port, -1 disables it. */
  tlsPort?: number;
  /** WebSocket-over-TLS port, used when `tlsCert` is set; 0 picks a free port, -1 disables it. */
  wssPort?: number;
  /** PEM certificate (chain) file of the TLS and WSS listeners; '' means no TLS. */
  tlsCert?: string;
  /** PEM private key file of `tlsCert`. */
  tlsKey?: string;
  /** PEM CA file that client certificates are verified against; setting it asks clients for a certificate. */
  tlsCa?: string;
  /** Refuse TLS clients without a certificate signed by `tlsCa` (mTLS). */
  requireClientCert?: boolean;
  /** Use the verified client certificate's Common Name as the username (it then authenticates the client). */
  certAsUsername?: boolean;
  /** Password file (`midge passwd`); when set, clients must authenticate. */
  passwordFile?: string;
  /** ACL file; when set, every publish, subscription and delivery is checked and denied by default. */
  aclFile?: string;
  /** Accept clients without credentials even though a password file or JWT is configured. */
  allowAnonymous?: boolean;
  /** Shared secret (HS256/384/512) that JWT passwords are verified against. */
  jwtSecret?: string;
  /** JWKS file (JSON) whose public keys JWT passwords are verified against. */
  jwtJwksFile?: string;
  /** JWT claim that gives the username. */
  jwtUsernameClaim?: string;
  /** JWT claim with the allowed topic patterns (an array, or { publish, subscribe } arrays); absent means no restriction from the token. */
  jwtTopicsClaim?: string;
  /** Required JWT issuer ('' = not checked). */
  jwtIssuer?: string;
  /** Required JWT audience ('' = not checked). */
  jwtAudience?: string;
  /** Longest topic name or filter accepted, in UTF-8 bytes. */
  maxTopicLength?: number;
  /** Most levels a topic name or filter may have. */
  maxTopicLevels?: number;
  /** Longest client identifier accepted, in UTF-8 bytes. */
  maxClientIdLength?: number;
  /** Open connections in total (before and after CONNECT); 0 = no limit. */
  maxConnections?: number;
  /** Open connections per source IP address; 0 = no limit. */
  maxConnectionsPerIp?: number;
  /** PUBLISH packets per second read from one client; above it reads pause (0 = no limit). */
  publishRateMessages?: number;
  /** PUBLISH bytes per second read from one client; above it reads pause (0 = no limit). */
  publishRateBytes?: number;
  /** Subscriptions one session may hold (SUBACK 0x97 above it); 0 = no limit. */
  maxSubscriptionsPerClient?: number;
  /** Milliseconds a client's write buffer may stay above `maxWriteBuffer` before it is disconnected; 0 = never. */
  slowConsumerTimeout?: number;
}

/** Defaults for every option except logger, plugins and store. */
export const DEFAULTS = {
  host: '0.0.0.0',
  port: 1883,
  wsPort: 8083,
  wsPath: '/mqtt',
  logLevel: 'info',
  maxInflight: 100,
  maxQueuedMessages: 1000,
  maxQueuedBytes: 16 * 1024 * 1024,
  queueOverflow: 'drop-oldest' as OverflowPolicy,
  queuePageSize: 1000,
  maxPacketSize: 1024 * 1024,
  maxKeepAlive: 0,
  connectTimeout: 10_000,
  receiveMaximum: 100,
  topicAliasMaximum: 10,
  topicAliasOutbound: true,
  maxSessionExpiryInterval: 0xffffffff,
  maxWriteBuffer: 8 * 1024 * 1024,
  maxPendingPackets: 1000,
  dataDir: './data',
  durability: 'fsync' as Durability,
  sharedSubscriptionStrategy: 'round-robin' as SharedStrategy,
  responseInformationPrefix: 'response/',
  validatePayloadFormat: true,
  httpPort: 8080,
  logFormat: 'json' as 'json' | 'text',
  sysInterval: 10,
  shutdownTimeout: 10_000,
  scramUsersFile: '',
  // Security and limits
  tlsPort: 8883,
  wssPort: 8084,
  tlsCert: '',
  tlsKey: '',
  tlsCa: '',
  requireClientCert: false,
  certAsUsername: false,
  passwordFile: '',
  aclFile: '',
  allowAnonymous: false,
  jwtSecret: '',
  jwtJwksFile: '',
  jwtUsernameClaim: 'sub',
  jwtTopicsClaim: 'topics',
  jwtIssuer: '',
  jwtAudience: '',
  maxTopicLength: 4096,
  maxTopicLevels: 200,
  maxClientIdLength: 256,
  maxConnections: 50_000,
  maxConnectionsPerIp: 0,
  publishRateMessages: 0,
  publishRateBytes: 0,
  maxSubscriptionsPerClient: 10_000,
  slowConsumerTimeout: 30_000,
};

/** Options after defaults and validation. */
export type ResolvedOptions = typeof DEFAULTS &
  Pick<BrokerOptions, 'logger'> & { plugins: Plugin[]; store: NonNullable<BrokerOptions['store']> } & { bridge: BridgeConfig; cluster: ClusterOptions | undefined; bridges: MqttBridgeConfig[] };

/** Applies defaults and validates; throws ERR_INVALID_OPTION naming the key, what was expected and what was found. */
export function resolveOptions(input: BrokerOptions = {}): ResolvedOptions {
  const given = stripUndefined(input);
  const result = brokerOptionsSchema.safeParse(given);
  if (!result.success) {
    throw new BrokerError('ERR_INVALID_OPTION', describeIssues(brokerOptionsSchema, given, result.error.issues).join('; '));
  }
  // The bridge's nested options are checked by the bridge itself, with messages naming the key path
  const merged = {
    ...DEFAULTS,
    plugins: [] as Plugin[],
    store: 'level',
    ...given,
    bridge: resolveBridgeOptions(input.bridge),
    cluster: resolveClusterOptions(input.cluster),
    bridges: resolveMqttBridges(input.bridges, hostname()),
  } as ResolvedOptions;
  checkSecurityOptions(merged);
  return merged;
}

function resolveClusterOptions(input: BrokerOptions['cluster']): ClusterOptions | undefined {
  if (input === undefined) return undefined;
  const servers = [input.servers].flat().flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  if (servers.length === 0) throw invalid('cluster.servers', 'at least one nats:// URL', input.servers);
  return { servers, nodeId: input.nodeId, prefix: input.prefix ?? 'midge', replicas: input.replicas ?? 1 };
}

function invalid(key: string, expected: string, found: unknown): BrokerError {
  return new BrokerError('ERR_INVALID_OPTION', `${key}: expected ${expected}, found ${JSON.stringify(found)}`);
}

/** Rules between security options (each one's type and range is in config/schema.ts). */
function checkSecurityOptions(merged: ResolvedOptions): void {
  if ((merged.tlsCert === '') !== (merged.tlsKey === '')) throw invalid('tlsKey', 'tlsCert and tlsKey set together', merged.tlsKey);
  if ((merged.requireClientCert || merged.certAsUsername) && merged.tlsCa === '') {
    throw invalid('tlsCa', 'a CA file when client certificates are required or used as usernames', merged.tlsCa);
  }
  if (merged.jwtSecret !== '' && merged.jwtJwksFile !== '') throw invalid('jwtJwksFile', 'either jwtSecret or jwtJwksFile, not both', merged.jwtJwksFile);
}

function stripUndefined<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}
