import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { BrokerError } from './errors.js';
import { brokerOptionsSchema, describeIssues } from './config/schema.js';
import type { Plugin } from './hooks.js';
import { optionEntries, type OptionKey, type OptionValues } from './config/table.js';
import type { Store } from './store/store.js';
import { resolveBridgeOptions, type BridgeConfig, type BridgeOptions } from './bridge/config.js';
import type { ClusterOptions } from './cluster/cluster.js';
import { resolveMqttBridges, type MqttBridgeConfig, type MqttBridgeOptions } from './mqtt-bridge/config.js';

/** The options of the table (config/table.ts), each optional; their TSDoc is the table's. */
type TableOptions = { -readonly [K in OptionKey]?: OptionValues[K] };

/**
 * Options accepted by `createBroker`. Every field is optional; defaults are in DEFAULTS. All but
 * the four below are generated from the options table (src/config/table.ts).
 */
export interface BrokerOptions extends Omit<TableOptions, 'store' | 'bridge' | 'bridges'> {
  /** A pino logger to use instead of creating one. */
  logger?: Logger;
  /** Plugins, called in order. */
  plugins?: Plugin[];
  /**
   * Where state is mirrored: 'memory' (lost when the process exits; createBroker's default unless
   * `dataDir` is given), 'level' (LevelDB in `dataDir`; the `midge` command's default) or a Store object.
   */
  store?: 'level' | 'memory' | Store;
  /** Bridge to a log store: streams (retention), rules (topic filter → stream) and sinks (NATS, Redis, Kafka). */
  bridge?: BridgeOptions;
  /** MQTT bridges to other brokers (see the README, MQTT bridges). */
  bridges?: MqttBridgeOptions[];
}

type DefaultedKey = Exclude<OptionKey, 'store' | 'bridge' | 'cluster' | 'bridges'>;

/** Defaults for every option except logger, plugins, store and bridge (from the options table). */
export const DEFAULTS = Object.fromEntries(
  optionEntries()
    .filter(([key]) => key !== 'store' && key !== 'bridge' && key !== 'cluster' && key !== 'bridges')
    .map(([key, spec]) => [key, spec.default]),
) as { -readonly [K in DefaultedKey]: OptionValues[K] };

/**
 * The `midge` command's defaults: a server's, where a library's differ (a LevelDB store in ./data
 * and the HTTP listener on 127.0.0.1:8080). `createBroker` uses DEFAULTS, a library's: a memory
 * store (LevelDB when `dataDir` is given) and no HTTP listener.
 */
export const CLI_DEFAULTS: Readonly<BrokerOptions> = Object.fromEntries(
  optionEntries()
    .filter(([, spec]) => spec.cliDefault !== undefined)
    .map(([key, spec]) => [key, spec.cliDefault]),
);

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
  // Giving a data directory asks for the durable store
  const store = given.dataDir === undefined ? 'memory' : 'level';
  const merged = {
    ...DEFAULTS,
    plugins: [] as Plugin[],
    store,
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
  return { servers, nodeId: input.nodeId, prefix: input.prefix ?? 'midge', replicas: input.replicas ?? 1, sinkLeaseMs: (input.sinkLeaseSeconds ?? 10) * 1000 };
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
