/** The `bridges` option: MQTT bridges to other brokers, with their defaults and validation. */
import { readFileSync } from 'node:fs';
import { BrokerError } from '../errors.js';
import type { QoS } from '../model.js';
import { isValidTopicFilter, isValidTopicName } from '../protocol/topic.js';

/** Which way a topic rule forwards: local → remote, remote → local, or both. */
export type BridgeDirection = 'out' | 'in' | 'both';

/** What happens when a bridge's backlog is full: drop its oldest message, or withhold local publishers' acknowledgements. */
export type BacklogOverflow = 'drop-oldest' | 'block';

/** One topic rule, as Mosquitto's `topic pattern [out|in|both [qos [local-prefix remote-prefix]]]`. */
export interface MqttBridgeTopicOptions {
  /** The pattern; '' when the prefixes are whole topics. */
  filter: string;
  /** Default 'out'. */
  direction?: BridgeDirection;
  /** The highest QoS forwarded (a message goes at the lower of its QoS and this). Default 0, as in Mosquitto. */
  qos?: QoS;
  /** Prepended to the pattern on the local broker (and removed from forwarded topics). */
  localPrefix?: string;
  /** Prepended to the pattern on the remote broker. */
  remotePrefix?: string;
}

/** One bridge, an item of the `bridges` option. */
export interface MqttBridgeOptions {
  /** Unique name; the local session is `$bridge/<name>`. */
  name: string;
  /** mqtt://, mqtts://, ws:// or wss:// URL; several give failover, tried in turn. */
  url: string | string[];
  /** Client id on the remote broker. Default `<hostname>.<name>`, as in Mosquitto. */
  clientId?: string;
  username?: string;
  password?: string;
  /**
   * The user name the bridge has on this broker, as Mosquitto's `local_username`: its local
   * subscriptions (out), what it publishes locally (in) and what it reads go through the
   * authorization plugins (ACL file, JWT, your own) as this user's, with the client id `$bridge/<name>`.
   */
  localUsername?: string;
  /** A file whose first line is the password (instead of `password`). */
  passwordFile?: string;
  /** PEM files: CA to verify the remote with, and a client certificate and key. */
  ca?: string;
  cert?: string;
  key?: string;
  /** Verify the remote's certificate. Default true. */
  rejectUnauthorized?: boolean;
  /** 4 (MQTT 3.1.1) or 5. Default 4. */
  protocolVersion?: 4 | 5;
  /** Set the bridge bit (protocol level 0x84) over MQTT 3.1.1, as Mosquitto's try_private. Default true. */
  bridgeBit?: boolean;
  /** Seconds. Default 60. */
  keepalive?: number;
  /** Start a new session on the remote at every connection. Default false. */
  cleanStart?: boolean;
  /** MQTT 5 Session Expiry Interval asked of the remote, in seconds. Default 0xFFFFFFFF (never). */
  sessionExpiry?: number;
  topics: MqttBridgeTopicOptions[];
  /** Outbound QoS 1/2 messages awaiting the remote's acknowledgement. Default 100. */
  maxInflight?: number;
  /** Payload bytes the outbound backlog holds (memory and disk). Default 256 MiB. */
  maxBacklogBytes?: number;
  /** Messages the outbound backlog holds. Default 10,000,000. */
  maxBacklogMessages?: number;
  /** Default 'drop-oldest'. */
  overflow?: BacklogOverflow;
  /** First reconnect delay in ms; it doubles per failed attempt, with jitter. Default 1000. */
  reconnectDelay?: number;
  /** Cap on the reconnect delay in ms. Default 60000. */
  reconnectDelayMax?: number;
  /** Ms to wait for CONNACK. Default 10000. */
  connectTimeout?: number;
}

/** A topic rule after validation, with the filters it subscribes to on each side. */
export interface BridgeTopic {
  readonly filter: string;
  readonly direction: BridgeDirection;
  readonly qos: QoS;
  readonly localPrefix: string;
  readonly remotePrefix: string;
  /** localPrefix + filter: what the bridge subscribes to locally (out, both). */
  readonly localFilter: string;
  /** remotePrefix + filter: what the bridge subscribes to on the remote (in, both). */
  readonly remoteFilter: string;
}

/** TLS material read from the configured files. */
export interface BridgeTls {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly rejectUnauthorized: boolean;
}

/** One bridge after defaults and validation (files read). */
export interface MqttBridgeConfig {
  readonly name: string;
  readonly urls: readonly string[];
  readonly clientId: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly localUsername: string | undefined;
  readonly tls: BridgeTls;
  readonly protocolVersion: 4 | 5;
  readonly bridgeBit: boolean;
  readonly keepalive: number;
  readonly cleanStart: boolean;
  readonly sessionExpiry: number;
  readonly topics: readonly BridgeTopic[];
  readonly maxInflight: number;
  readonly maxBacklogBytes: number;
  readonly maxBacklogMessages: number;
  readonly overflow: BacklogOverflow;
  readonly reconnectDelay: number;
  readonly reconnectDelayMax: number;
  readonly connectTimeout: number;
  /** The options as given, for `--print-config` and to tell whether a reload changed anything. */
  readonly options: MqttBridgeOptions;
}

const DEFAULTS = {
  protocolVersion: 4 as const,
  bridgeBit: true,
  keepalive: 60,
  cleanStart: false,
  sessionExpiry: 0xffffffff,
  maxInflight: 100,
  maxBacklogBytes: 256 * 1024 * 1024,
  maxBacklogMessages: 10_000_000,
  overflow: 'drop-oldest' as BacklogOverflow,
  reconnectDelay: 1000,
  reconnectDelayMax: 60_000,
  connectTimeout: 10_000,
};

const KEYS = new Set([
  'name', 'url', 'clientId', 'username', 'password', 'localUsername', 'passwordFile', 'ca', 'cert', 'key', 'rejectUnauthorized', 'protocolVersion',
  'bridgeBit', 'keepalive', 'cleanStart', 'sessionExpiry', 'topics', 'maxInflight', 'maxBacklogBytes', 'maxBacklogMessages',
  'overflow', 'reconnectDelay', 'reconnectDelayMax', 'connectTimeout',
]);
const TOPIC_KEYS = new Set(['filter', 'direction', 'qos', 'localPrefix', 'remotePrefix']);
const SCHEMES = ['mqtt:', 'mqtts:', 'ws:', 'wss:'];
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** The local session of a bridge: `$bridge/<name>`; no client can take it (see handlers/connect). */
export function bridgeSessionId(name: string): string {
  return `$bridge/${name}`;
}

/** Validates the `bridges` option; throws ERR_INVALID_OPTION with one line naming the key path, what was expected and what was found. */
export function resolveMqttBridges(input: unknown, hostname = 'midge'): MqttBridgeConfig[] {
  if (input === undefined) return [];
  if (!Array.isArray(input)) throw invalid('bridges', 'a list of bridges', input);
  const names = new Set<string>();
  return input.map((item: unknown, i) => {
    const config = resolveBridge(item, `bridges[${i}]`, hostname);
    if (names.has(config.name)) throw invalid(`bridges[${i}].name`, 'a name no other bridge has', config.name);
    names.add(config.name);
    return config;
  });
}

function resolveBridge(item: unknown, at: string, hostname: string): MqttBridgeConfig {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) throw invalid(at, 'an object { name, url, topics, ... }', item);
  const o = item as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!KEYS.has(key)) throw new BrokerError('ERR_INVALID_OPTION', `${at}.${key}: unknown option`);
  const name = o.name;
  if (typeof name !== 'string' || !NAME.test(name)) throw invalid(`${at}.name`, 'a name of 1 to 64 letters, digits, _ . or -', name);
  const urls = typeof o.url === 'string' ? [o.url] : o.url;
  if (!Array.isArray(urls) || urls.length === 0) throw invalid(`${at}.url`, 'a URL or a non-empty list of URLs', o.url);
  urls.forEach((u: unknown, i) => checkUrl(u, Array.isArray(o.url) ? `${at}.url[${i}]` : `${at}.url`));
  const topics = o.topics;
  if (!Array.isArray(topics) || topics.length === 0) throw invalid(`${at}.topics`, 'a non-empty list of topic rules', topics);
  const protocolVersion = o.protocolVersion ?? DEFAULTS.protocolVersion;
  if (protocolVersion !== 4 && protocolVersion !== 5) throw invalid(`${at}.protocolVersion`, '4 or 5', protocolVersion);
  const overflow = o.overflow ?? DEFAULTS.overflow;
  if (overflow !== 'drop-oldest' && overflow !== 'block') throw invalid(`${at}.overflow`, 'drop-oldest|block', overflow);
  if (o.password !== undefined && o.passwordFile !== undefined) throw invalid(`${at}.passwordFile`, 'either password or passwordFile, not both', o.passwordFile);
  const reconnectDelay = int(o, 'reconnectDelay', at, 10, 3_600_000);
  const config: MqttBridgeConfig = {
    name,
    urls: urls as string[],
    clientId: str(o, 'clientId', at) ?? `${hostname}.${name}`,
    username: str(o, 'username', at),
    password: str(o, 'password', at) ?? readPassword(o, at),
    localUsername: str(o, 'localUsername', at),
    tls: { ca: readPem(o, 'ca', at), cert: readPem(o, 'cert', at), key: readPem(o, 'key', at), rejectUnauthorized: bool(o, 'rejectUnauthorized', at, true) },
    protocolVersion,
    bridgeBit: bool(o, 'bridgeBit', at, DEFAULTS.bridgeBit),
    keepalive: int(o, 'keepalive', at, 0, 65535),
    cleanStart: bool(o, 'cleanStart', at, DEFAULTS.cleanStart),
    sessionExpiry: int(o, 'sessionExpiry', at, 0, 0xffffffff),
    topics: topics.map((t: unknown, i) => resolveTopic(t, `${at}.topics[${i}]`)),
    maxInflight: int(o, 'maxInflight', at, 1, 65535),
    maxBacklogBytes: int(o, 'maxBacklogBytes', at, 0, Number.MAX_SAFE_INTEGER),
    maxBacklogMessages: int(o, 'maxBacklogMessages', at, 0, Number.MAX_SAFE_INTEGER),
    overflow,
    reconnectDelay,
    reconnectDelayMax: int(o, 'reconnectDelayMax', at, reconnectDelay, 86_400_000),
    connectTimeout: int(o, 'connectTimeout', at, 100, 600_000),
    options: item as MqttBridgeOptions,
  };
  if ((config.tls.cert === undefined) !== (config.tls.key === undefined)) throw invalid(`${at}.key`, 'cert and key set together', o.key);
  return config;
}

function resolveTopic(item: unknown, at: string): BridgeTopic {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) throw invalid(at, 'an object { filter, direction, qos, localPrefix, remotePrefix }', item);
  const o = item as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!TOPIC_KEYS.has(key)) throw new BrokerError('ERR_INVALID_OPTION', `${at}.${key}: unknown option`);
  const filter = o.filter;
  if (typeof filter !== 'string') throw invalid(`${at}.filter`, 'a topic filter', filter);
  const direction = o.direction ?? 'out';
  if (direction !== 'out' && direction !== 'in' && direction !== 'both') throw invalid(`${at}.direction`, 'out|in|both', direction);
  const qos = o.qos ?? 0;
  if (qos !== 0 && qos !== 1 && qos !== 2) throw invalid(`${at}.qos`, '0, 1 or 2', qos);
  const localPrefix = str(o, 'localPrefix', at) ?? '';
  const remotePrefix = str(o, 'remotePrefix', at) ?? '';
  for (const [key, prefix] of [['localPrefix', localPrefix], ['remotePrefix', remotePrefix]] as const) {
    if (prefix.includes('+') || prefix.includes('#') || prefix.includes('\u0000')) throw invalid(`${at}.${key}`, 'a prefix without wildcards', prefix);
  }
  if (filter === '') {
    // Mosquitto: an empty pattern makes each prefix a whole topic, which must then be set on both sides
    if (!isValidTopicName(localPrefix) || !isValidTopicName(remotePrefix)) {
      throw invalid(`${at}.filter`, 'a topic filter (or "" with a topic name as localPrefix and as remotePrefix)', filter);
    }
  } else if (filter.startsWith('$share/') || !isValidTopicFilter(localPrefix + filter) || !isValidTopicFilter(remotePrefix + filter)) {
    throw invalid(`${at}.filter`, 'a valid topic filter (no $share/), also with its prefixes', filter);
  }
  return { filter, direction, qos, localPrefix, remotePrefix, localFilter: localPrefix + filter, remoteFilter: remotePrefix + filter };
}

function checkUrl(value: unknown, at: string): void {
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || !SCHEMES.includes(url.protocol) || url.hostname === '') {
    throw invalid(at, 'an mqtt://, mqtts://, ws:// or wss:// URL with a host', value);
  }
}

function readPassword(o: Record<string, unknown>, at: string): string | undefined {
  const file = str(o, 'passwordFile', at);
  if (file === undefined) return undefined;
  return (readable(file, `${at}.passwordFile`).toString('utf8').split(/\r?\n/)[0] ?? '').trim();
}

function readPem(o: Record<string, unknown>, key: string, at: string): Buffer | undefined {
  const file = str(o, key, at);
  if (file === undefined || file === '') return undefined;
  const pem = readable(file, `${at}.${key}`);
  if (!pem.includes('-----BEGIN ')) throw invalid(`${at}.${key}`, 'a PEM file', file);
  return pem;
}

function readable(file: string, at: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new BrokerError('ERR_INVALID_OPTION', `${at}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

function str(o: Record<string, unknown>, key: string, at: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(`${at}.${key}`, 'a string', v);
  return v;
}

function bool(o: Record<string, unknown>, key: string, at: string, fallback: boolean): boolean {
  const v = o[key] ?? fallback;
  if (typeof v !== 'boolean') throw invalid(`${at}.${key}`, 'true or false', v);
  return v;
}

function int(o: Record<string, unknown>, key: keyof typeof DEFAULTS, at: string, min: number, max: number): number {
  const v = o[key] ?? DEFAULTS[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw invalid(`${at}.${key}`, `an integer from ${min} to ${max}`, v);
  return v;
}

function invalid(key: string, expected: string, found: unknown): BrokerError {
  return new BrokerError('ERR_INVALID_OPTION', `${key}: expected ${expected}, found ${JSON.stringify(found) ?? String(found)}`);
}
