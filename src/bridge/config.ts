/** The `bridge` option: streams, rules and sinks, with their defaults and validation. */
import { BrokerError } from '../errors.js';
import type { QoS } from '../model.js';
import { isValidTopicFilter } from '../protocol/topic.js';

/** Retention of one stream; records beyond either bound are deleted in the background. */
export interface StreamOptions {
  /** Bytes of records (payload, topic and metadata) the stream keeps. Default 1 GiB. */
  maxBytes?: number;
  /** Seconds a record is kept. Default 7 days; 0 keeps records until `maxBytes` removes them. */
  maxAgeSeconds?: number;
}

/** A rule: messages whose topic matches `filter` (and whose QoS is listed in `qos`) go to `stream`. */
export interface RuleOptions {
  filter: string;
  stream: string;
  /** The QoS levels this rule takes; default all (0, 1 and 2). */
  qos?: QoS | QoS[];
}

interface SinkCommon {
  /** Unique name; its cursor is kept under it. Default `${type}-${stream}`. */
  name?: string;
  /** The stream shipped. */
  stream: string;
  /** Records per batch sent to the engine. Default 256. */
  batchSize?: number;
}

/** NATS JetStream: records are published to `subject` with Nats-Msg-Id = stream:offset. */
export interface NatsSinkOptions extends SinkCommon {
  type: 'nats';
  /** Server URLs, e.g. "nats://127.0.0.1:4222". */
  servers: string | string[];
  subject: string;
  /** The JetStream stream that captures `subject`; created when missing. Default `MIDGE_${stream}`. */
  jetstream?: string;
}

/** Redis Streams: XADD `key` with the entry id `${offset}-1`, so a retried append is refused. */
export interface RedisSinkOptions extends SinkCommon {
  type: 'redis';
  /** A redis:// URL. */
  url: string;
  key: string;
  /** Approximate MAXLEN applied by each XADD; 0 (default) keeps every entry. */
  maxLen?: number;
}

/** Kafka: an idempotent producer; the record key is the MQTT topic, the headers carry metadata. */
export interface KafkaSinkOptions extends SinkCommon {
  type: 'kafka';
  brokers: string[];
  topic: string;
  clientId?: string;
}

/** One external sink. */
export type SinkOptions = NatsSinkOptions | RedisSinkOptions | KafkaSinkOptions;

/** What happens when a stream outgrows its retention while a sink has not shipped its oldest records. */
export type BridgeOverflow = 'drop-oldest' | 'block';

/** The `bridge` broker option. */
export interface BridgeOptions {
  streams?: Record<string, StreamOptions>;
  rules?: RuleOptions[];
  sinks?: SinkOptions[];
  /** Default 'drop-oldest'. */
  overflow?: BridgeOverflow;
  /** Milliseconds between retention passes. Default 1000. */
  retentionIntervalMs?: number;
  /** Serve `midge log` through a unix socket in the data directory (LevelDB store only). Default true. */
  admin?: boolean;
}

/** Resolved retention of a stream. */
export interface StreamConfig {
  readonly name: string;
  readonly maxBytes: number;
  readonly maxAgeMs: number;
}

/** Resolved rule. */
export interface RuleConfig {
  readonly filter: string;
  readonly stream: string;
  readonly qos: readonly QoS[];
}

/** The bridge configuration after defaults and validation. */
export interface BridgeConfig {
  readonly streams: readonly StreamConfig[];
  readonly rules: readonly RuleConfig[];
  readonly sinks: readonly (SinkOptions & { name: string; batchSize: number })[];
  readonly overflow: BridgeOverflow;
  readonly retentionIntervalMs: number;
  readonly admin: boolean;
}

/** The options that resolve to `config` (so `midge --print-config` prints a loadable bridge). */
export function bridgeOptionsOf(config: BridgeConfig): BridgeOptions {
  const streams: Record<string, StreamOptions> = {};
  for (const s of config.streams) streams[s.name] = { maxBytes: s.maxBytes, maxAgeSeconds: s.maxAgeMs / 1000 };
  return {
    streams,
    rules: config.rules.map((r) => ({ filter: r.filter, stream: r.stream, qos: [...r.qos] })),
    sinks: config.sinks.map((s) => ({ ...s })),
    overflow: config.overflow,
    retentionIntervalMs: config.retentionIntervalMs,
    admin: config.admin,
  };
}

export const BRIDGE_DEFAULTS = {
  maxBytes: 1024 * 1024 * 1024,
  maxAgeSeconds: 7 * 24 * 3600,
  batchSize: 256,
  retentionIntervalMs: 1000,
};

/** Stream names: safe in keys, file names and subjects. */
const STREAM_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const SINK_TYPES = ['nats', 'redis', 'kafka'];

function invalid(key: string, message: string): BrokerError {
  return new BrokerError('ERR_INVALID_OPTION', `bridge.${key}: ${message}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function integer(key: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) throw invalid(key, `expected an integer >= ${min}, found ${JSON.stringify(value)}`);
  return value;
}

function streamName(key: string, value: unknown): string {
  if (typeof value !== 'string' || !STREAM_NAME.test(value)) {
    throw invalid(key, `expected a stream name of 1 to 64 letters, digits, '.', '_' or '-', found ${JSON.stringify(value)}`);
  }
  return value;
}

function resolveRule(rule: unknown, i: number): RuleConfig {
  if (!isObject(rule)) throw invalid(`rules[${i}]`, 'expected an object { filter, stream, qos? }');
  const { filter } = rule;
  if (typeof filter !== 'string' || filter.startsWith('$share/') || !isValidTopicFilter(filter)) {
    throw invalid(`rules[${i}].filter`, `invalid topic filter ${JSON.stringify(filter)}`);
  }
  const qosList = rule.qos === undefined ? [0, 1, 2] : Array.isArray(rule.qos) ? rule.qos : [rule.qos];
  if (qosList.length === 0 || !qosList.every((q) => q === 0 || q === 1 || q === 2)) {
    throw invalid(`rules[${i}].qos`, `expected 0, 1, 2 or a list of them, found ${JSON.stringify(rule.qos)}`);
  }
  return { filter, stream: streamName(`rules[${i}].stream`, rule.stream), qos: qosList as QoS[] };
}

function requireString(key: string, value: unknown): void {
  if (typeof value !== 'string' || value === '') throw invalid(key, `expected a non-empty string, found ${JSON.stringify(value)}`);
}

function resolveSink(sink: unknown, i: number): SinkOptions & { name: string; batchSize: number } {
  const at = `sinks[${i}]`;
  if (!isObject(sink)) throw invalid(at, 'expected an object { type, stream, ... }');
  if (typeof sink.type !== 'string' || !SINK_TYPES.includes(sink.type)) {
    throw invalid(`${at}.type`, `unknown sink type ${JSON.stringify(sink.type)} (expected ${SINK_TYPES.join('|')})`);
  }
  const stream = streamName(`${at}.stream`, sink.stream);
  if (sink.type === 'nats') {
    const servers = Array.isArray(sink.servers) ? sink.servers : [sink.servers];
    servers.forEach((s, j) => requireString(`${at}.servers[${j}]`, s));
    requireString(`${at}.subject`, sink.subject);
    if (sink.jetstream !== undefined) streamName(`${at}.jetstream`, sink.jetstream);
  } else if (sink.type === 'redis') {
    requireString(`${at}.url`, sink.url);
    requireString(`${at}.key`, sink.key);
    integer(`${at}.maxLen`, sink.maxLen, 0, 0);
  } else {
    if (!Array.isArray(sink.brokers) || sink.brokers.length === 0) throw invalid(`${at}.brokers`, 'expected a list of host:port');
    sink.brokers.forEach((b, j) => requireString(`${at}.brokers[${j}]`, b));
    requireString(`${at}.topic`, sink.topic);
  }
  const name = sink.name === undefined ? `${sink.type}-${stream}` : streamName(`${at}.name`, sink.name);
  const batchSize = integer(`${at}.batchSize`, sink.batchSize, BRIDGE_DEFAULTS.batchSize, 1);
  if (batchSize > 10_000) throw invalid(`${at}.batchSize`, `at most 10000, found ${batchSize}`);
  return { ...(sink as unknown as SinkOptions), name, batchSize };
}

function resolveStreams(input: unknown, used: Iterable<string>): StreamConfig[] {
  if (input !== undefined && !isObject(input)) throw invalid('streams', 'expected an object of stream name → { maxBytes?, maxAgeSeconds? }');
  const out = new Map<string, StreamConfig>();
  for (const [name, value] of Object.entries(input ?? {})) {
    streamName(`streams.${name}`, name);
    if (!isObject(value)) throw invalid(`streams.${name}`, 'expected an object { maxBytes?, maxAgeSeconds? }');
    const maxBytes = integer(`streams.${name}.maxBytes`, value.maxBytes, BRIDGE_DEFAULTS.maxBytes, 1);
    const maxAgeSeconds = integer(`streams.${name}.maxAgeSeconds`, value.maxAgeSeconds, BRIDGE_DEFAULTS.maxAgeSeconds, 0);
    out.set(name, { name, maxBytes, maxAgeMs: maxAgeSeconds * 1000 });
  }
  for (const name of used) {
    if (!out.has(name)) out.set(name, { name, maxBytes: BRIDGE_DEFAULTS.maxBytes, maxAgeMs: BRIDGE_DEFAULTS.maxAgeSeconds * 1000 });
  }
  return [...out.values()];
}

/** Applies defaults and validates the `bridge` option; throws ERR_INVALID_OPTION with a one-line message. */
export function resolveBridgeOptions(input: unknown): BridgeConfig {
  if (input === undefined) return { streams: [], rules: [], sinks: [], overflow: 'drop-oldest', retentionIntervalMs: BRIDGE_DEFAULTS.retentionIntervalMs, admin: true };
  if (!isObject(input)) throw invalid('', 'expected an object { streams, rules, sinks, overflow }');
  for (const key of Object.keys(input)) {
    if (!['streams', 'rules', 'sinks', 'overflow', 'retentionIntervalMs', 'admin'].includes(key)) throw invalid(key, 'unknown key');
  }
  if (input.rules !== undefined && !Array.isArray(input.rules)) throw invalid('rules', 'expected a list');
  if (input.sinks !== undefined && !Array.isArray(input.sinks)) throw invalid('sinks', 'expected a list');
  const rules = (input.rules ?? []).map(resolveRule);
  const sinks = (input.sinks ?? []).map(resolveSink);
  const names = new Set<string>();
  for (const sink of sinks) {
    if (names.has(sink.name)) throw invalid('sinks', `two sinks are named ${JSON.stringify(sink.name)}`);
    names.add(sink.name);
  }
  const streams = resolveStreams(input.streams, [...rules.map((r) => r.stream), ...sinks.map((s) => s.stream)]);
  const overflow = input.overflow ?? 'drop-oldest';
  if (overflow !== 'drop-oldest' && overflow !== 'block') throw invalid('overflow', `expected drop-oldest|block, found ${JSON.stringify(overflow)}`);
  const retentionIntervalMs = integer('retentionIntervalMs', input.retentionIntervalMs, BRIDGE_DEFAULTS.retentionIntervalMs, 10);
  if (input.admin !== undefined && typeof input.admin !== 'boolean') throw invalid('admin', 'expected true or false');
  return { streams, rules, sinks, overflow, retentionIntervalMs, admin: input.admin !== false };
}
