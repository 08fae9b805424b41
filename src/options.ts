import type { Logger } from 'pino';
import { BrokerError } from './errors.js';
import type { Plugin } from './hooks.js';
import type { OverflowPolicy } from './broker/queue.js';
import type { SharedStrategy } from './broker/topic-tree.js';
import type { Durability } from './store/level.js';
import type { Store } from './store/store.js';
import { resolveBridgeOptions, type BridgeConfig, type BridgeOptions } from './bridge/config.js';

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
  /** Bridge to a log store: streams (retention), rules (topic filter → stream) and sinks (NATS, Redis, Kafka). */
  bridge?: BridgeOptions;
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
};

/** Options after defaults and validation. */
export type ResolvedOptions = typeof DEFAULTS &
  Pick<BrokerOptions, 'logger'> & { plugins: Plugin[]; store: NonNullable<BrokerOptions['store']> } & { bridge: BridgeConfig };

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const INTEGER_RANGES: Record<string, [number, number]> = {
  port: [-1, 65535],
  wsPort: [-1, 65535],
  maxInflight: [1, 65535],
  maxQueuedMessages: [0, Number.MAX_SAFE_INTEGER],
  maxQueuedBytes: [0, Number.MAX_SAFE_INTEGER],
  queuePageSize: [2, 1_000_000],
  maxPacketSize: [64, 268_435_455],
  maxKeepAlive: [0, 65535],
  connectTimeout: [1, 3_600_000],
  receiveMaximum: [1, 65535],
  topicAliasMaximum: [0, 65535],
  maxSessionExpiryInterval: [0, 0xffffffff],
  maxWriteBuffer: [1024, Number.MAX_SAFE_INTEGER],
  maxPendingPackets: [1, 1_000_000],
};

function invalid(key: string, expected: string, found: unknown): BrokerError {
  return new BrokerError('ERR_INVALID_OPTION', `${key}: expected ${expected}, found ${JSON.stringify(found)}`);
}

/** Applies defaults and validates; throws ERR_INVALID_OPTION naming the key, what was expected and what was found. */
export function resolveOptions(input: BrokerOptions = {}): ResolvedOptions {
  const known = new Set([...Object.keys(DEFAULTS), 'logger', 'plugins', 'store', 'bridge']);
  for (const key of Object.keys(input)) {
    if (!known.has(key)) throw invalid(key, `one of the known options (${[...known].join(', ')})`, key);
  }
  const merged = { ...DEFAULTS, plugins: [] as Plugin[], store: 'level', ...stripUndefined(input), bridge: resolveBridgeOptions(input.bridge) } as ResolvedOptions;
  for (const [key, [min, max]] of Object.entries(INTEGER_RANGES)) {
    const value = (merged as unknown as Record<string, unknown>)[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw invalid(key, `an integer from ${min} to ${max}`, value);
    }
  }
  if (typeof merged.host !== 'string' || merged.host === '') throw invalid('host', 'a host name or address', merged.host);
  if (typeof merged.wsPath !== 'string' || !merged.wsPath.startsWith('/')) throw invalid('wsPath', 'a path starting with /', merged.wsPath);
  if (!LOG_LEVELS.includes(merged.logLevel)) throw invalid('logLevel', LOG_LEVELS.join('|'), merged.logLevel);
  if (merged.queueOverflow !== 'drop-oldest' && merged.queueOverflow !== 'drop-new') {
    throw invalid('queueOverflow', 'drop-oldest|drop-new', merged.queueOverflow);
  }
  if (typeof merged.topicAliasOutbound !== 'boolean') throw invalid('topicAliasOutbound', 'true or false', merged.topicAliasOutbound);
  if (!Array.isArray(merged.plugins)) throw invalid('plugins', 'an array of plugin objects', merged.plugins);
  const { store } = merged;
  if (store !== 'level' && store !== 'memory' && (typeof store !== 'object' || typeof store.open !== 'function')) {
    throw invalid('store', 'level|memory or a Store object', store);
  }
  if (typeof merged.dataDir !== 'string' || merged.dataDir === '') throw invalid('dataDir', 'a directory path', merged.dataDir);
  if (!['fsync', 'batch', 'none'].includes(merged.durability)) throw invalid('durability', 'fsync|batch|none', merged.durability);
  if (!['round-robin', 'random', 'sticky'].includes(merged.sharedSubscriptionStrategy)) {
    throw invalid('sharedSubscriptionStrategy', 'round-robin|random|sticky', merged.sharedSubscriptionStrategy);
  }
  if (typeof merged.responseInformationPrefix !== 'string') throw invalid('responseInformationPrefix', 'a string', merged.responseInformationPrefix);
  if (typeof merged.validatePayloadFormat !== 'boolean') throw invalid('validatePayloadFormat', 'true or false', merged.validatePayloadFormat);
  return merged;
}

function stripUndefined<T extends object>(obj: T): Partial<T> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined)) as Partial<T>;
}
