import { readFileOrThrow } from '../read-file.js';
import { bridgeOptionsOf, type BridgeConfig } from '../bridge/config.js';
import type { MqttBridgeConfig } from '../mqtt-bridge/config.js';
import { createRequire } from 'node:module';
import { BrokerError } from '../errors.js';
import { DEFAULTS, type BrokerOptions, type ResolvedOptions } from '../options.js';
import { redacted, REDACTED } from './redact.js';
import { flagOf, OPTIONS, type OptionKey, type OptionSpec } from './table.js';
import { closest, CONFIG_FIELDS, configSchema, describeIssues, keyPath } from './schema.js';

/** The yaml package, loaded (synchronously, as config loading is) only when a YAML file is read or printed. */
function yaml(): typeof import('yaml') {
  return createRequire(import.meta.url)('yaml') as typeof import('yaml');
}

/** Environment variables are `MIDGE_` plus the option in SCREAMING_SNAKE_CASE (`wsPort` → `MIDGE_WS_PORT`). */
export const ENV_PREFIX = 'MIDGE_';
/** The environment variable naming the config file, when `--config` is not given. */
export const CONFIG_ENV = 'MIDGE_CONFIG';
/** `MIDGE_*` variables that belong to Midge's test and benchmark tools (MIDGE_CRASH_SEED, MIDGE_FUZZ_CASES), not options. */
const TOOL_PREFIXES = ['MIDGE_TEST_', 'MIDGE_BENCH_', 'MIDGE_CRASH_', 'MIDGE_FUZZ_'];

/** The three layers of configuration; later layers win. */
export interface ConfigSources {
  /** A YAML or JSON file of options. */
  readonly file?: string | undefined;
  /** The process environment; only `MIDGE_*` variables are read. */
  readonly env?: Record<string, string | undefined>;
  /** Options given as command-line flags (undefined values are ignored). */
  readonly flags?: BrokerOptions;
}

/** Merges file, then env, then flags; each layer is validated and named in its messages. Throws ERR_INVALID_OPTION. */
export function loadConfig(sources: ConfigSources): BrokerOptions {
  const file = sources.file ? validated(readConfigFile(sources.file), `config file ${sources.file}: `, keyPath) : {};
  const env = validated(fromEnv(sources.env ?? {}), '', envPath);
  const flags = validated(definedOnly(sources.flags ?? {}), '', flagPath);
  return { ...file, ...env, ...flags };
}

/** `wsPort` → `MIDGE_WS_PORT`. */
export function envName(key: string): string {
  return ENV_PREFIX + key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}

/** `wsPort` → `--ws-port`, or the flag the options table gives (`tlsCert` → `--cert`). */
export function flagName(key: string): string {
  const flag = key in OPTIONS ? flagOf(key as OptionKey) : undefined;
  return `--${flag ?? key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** The effective configuration as YAML, for `--print-config` (programmatic-only options left out, secrets redacted). */
export function formatConfig(options: ResolvedOptions): string {
  const shown: Record<string, unknown> = {};
  for (const key of Object.keys({ ...DEFAULTS, ...options })) {
    const value = (options as unknown as Record<string, unknown>)[key];
    if (key === 'logger' || key === 'plugins' || value === undefined) continue;
    if (key === 'bridge') shown[key] = bridgeOptionsOf(value as BridgeConfig);
    else if (key === 'bridges') shown[key] = (value as MqttBridgeConfig[]).map((c) => c.options);
    else shown[key] = key === 'store' && typeof value === 'object' ? 'custom' : value;
    if (key in OPTIONS && (OPTIONS[key as OptionKey] as OptionSpec<unknown>).secret && value !== '') shown[key] = REDACTED;
  }
  return yaml().stringify(redacted(shown));
}

function envPath(path: readonly PropertyKey[]): string {
  const [head, ...rest] = path;
  return envName(String(head)) + (rest.length ? ` (${keyPath(rest)})` : '');
}

function flagPath(path: readonly PropertyKey[]): string {
  const [head, ...rest] = path;
  return flagName(String(head)) + (rest.length ? ` (${keyPath(rest)})` : '');
}

function validated(input: Record<string, unknown>, prefix: string, name: (path: readonly PropertyKey[]) => string): BrokerOptions {
  const result = configSchema.safeParse(input);
  if (!result.success) {
    throw new BrokerError('ERR_INVALID_OPTION', prefix + describeIssues(configSchema, input, result.error.issues, name).join('; '));
  }
  return input as BrokerOptions;
}

function readConfigFile(file: string): Record<string, unknown> {
  const text = readFileOrThrow(file, 'config', 'ERR_INVALID_OPTION');
  let parsed: unknown;
  try {
    // YAML 1.2 is a superset of JSON, but JSON.parse gives JSON files JSON's own error messages
    parsed = file.endsWith('.json') ? JSON.parse(text) : yaml().parse(text);
  } catch (err) {
    throw new BrokerError('ERR_INVALID_OPTION', `config file ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${syntaxError(err, text)}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new BrokerError('ERR_INVALID_OPTION', `config file ${file} must hold a mapping of option names to values`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * A YAML or JSON syntax error on one line, whole: what is wrong, where (line and column), and the
 * offending line (the nearest line with text at or before it, as the end of a file is often blank).
 */
function syntaxError(err: unknown, text: string): string {
  const message = err instanceof Error ? err.message : String(err);
  const yamlPos = (err as { linePos?: { line: number; col: number }[] }).linePos?.[0];
  const jsonPos = /at position (\d+)/.exec(message)?.[1];
  let line: number | undefined;
  let col: number | undefined;
  if (yamlPos) ({ line, col } = yamlPos);
  else if (jsonPos !== undefined) {
    const before = text.slice(0, Number(jsonPos)).split('\n');
    line = before.length;
    col = (before[before.length - 1]?.length ?? 0) + 1;
  }
  const what = (message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '').replace(/ in JSON at position \d+.*$/, '').trim();
  if (line === undefined) return what;
  const lines = text.split(/\r?\n/);
  let shown = line;
  while (shown > 1 && (lines[shown - 1] ?? '').trim() === '') shown--;
  const offending = (lines[shown - 1] ?? '').trimEnd();
  return `${what} at line ${line}, column ${col ?? 1} (line ${shown}: ${JSON.stringify(offending)})`;
}

/** `MIDGE_*` variables as options; a value the option cannot take as text is read as JSON (numbers, booleans, objects). */
function fromEnv(env: Record<string, string | undefined>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const known = Object.keys(CONFIG_FIELDS);
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || name === CONFIG_ENV || raw === undefined) continue;
    if (TOOL_PREFIXES.some((prefix) => name.startsWith(prefix))) continue;
    const key = name.slice(ENV_PREFIX.length).toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    const field = CONFIG_FIELDS[key];
    if (!field) {
      const hint = closest(key, known);
      throw new BrokerError('ERR_INVALID_OPTION', `${name}: unknown option${hint ? ` (did you mean ${envName(hint)}?)` : ''}`);
    }
    out[key] = field.schema.safeParse(raw).success ? raw : jsonOrText(raw);
  }
  return out;
}

function jsonOrText(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw; // not JSON either: validation reports it as found
  }
}

function definedOnly(options: BrokerOptions): Record<string, unknown> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
}
