import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CONFIG_ENV, loadConfig } from '../config/load.js';
import { closest } from '../config/schema.js';
import { flagOf, optionEntries, type OptionKey, type OptionSpec } from '../config/table.js';
import { CLI_DEFAULTS, type BrokerOptions } from '../options.js';

/** Thrown for a bad command line or config file; the CLI prints its message on one line. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The subcommands, listed at the top of `midge --help`. */
const COMMANDS = `Usage: midge [options]                       run the broker
       midge passwd [-c] [-b] [-D] FILE USER     manage a password file (midge passwd --help)
       midge migrate mosquitto.conf              print the Midge YAML for a Mosquitto configuration
       midge admin add-token|add-user|list|remove ...   HTTP API tokens and users (midge admin --help)
       midge log list|stat|read ...              read the bridge's log store (midge log --help)
       midge bench [options]                     load-test a broker (midge bench --help)`;

const META = `  --config FILE              YAML or JSON file of options (or MIDGE_CONFIG); every option can also
                             be set as MIDGE_<NAME> (e.g. MIDGE_WS_PORT); flags win over the
                             environment, which wins over the file
  --print-config             print the effective configuration (YAML, secrets redacted) and exit
  --cluster URLS             cluster mode: the NATS JetStream servers (nats://host:4222[,...]),
                             with --node-id; see docs/cluster.md
  --node-id ID               this node's id in the cluster ([A-Za-z0-9_-], unique per process)
  -h, --help                 show this help
  -v, --version              show the version`;

const HELP_WIDTH = 100;
const HELP_COLUMN = 29;

/** A default as the help shows it; nothing for an empty or false one. */
function shownDefault(value: unknown): string {
  if (value === '' || value === false || value === undefined) return '';
  return ` (default ${String(value)})`;
}

/** `text` cut into lines of at most `width` characters, at spaces. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  return [...lines, line];
}

/** The help line of one option: flag, value, what it does and the `midge` command's default. */
function helpLine(spec: OptionSpec<unknown>, flag: string): string {
  const value = spec.cliDefault ?? spec.default;
  const on = value === true;
  const left = `  --${on ? '[no-]' : ''}${flag}${spec.value ? ` ${spec.value}` : ''}`;
  const [first = '', ...rest] = wrap(`${spec.help}${on ? ' (default on)' : shownDefault(value)}`, HELP_WIDTH - HELP_COLUMN);
  const indent = ' '.repeat(HELP_COLUMN);
  const head = left.length < HELP_COLUMN - 1 ? left.padEnd(HELP_COLUMN) + first : `${left}\n${indent}${first}`;
  return [head, ...rest.map((l) => indent + l)].join('\n');
}

/** `midge --help`, generated from the options table (config/table.ts): its defaults are the code's. */
export function usage(): string {
  const groups = new Map<string, string[]>();
  for (const [key, spec] of optionEntries()) {
    const flag = flagOf(key);
    if (flag === undefined) continue;
    const lines = groups.get(spec.group) ?? [];
    lines.push(helpLine(spec, flag));
    groups.set(spec.group, lines);
  }
  const sections = [...groups].map(([group, lines]) => ` ${group}:\n${lines.join('\n')}`);
  return [COMMANDS, '', 'Options:', META, ...sections, '', 'See README.md and docs/configuration.md for every option.'].join('\n');
}

/** The help text (see usage()). */
export const USAGE = usage();

/** What the command line asks for. */
export type Command =
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'run'; options: BrokerOptions; configFile?: string | undefined }
  | { kind: 'print-config'; options: BrokerOptions; configFile?: string | undefined };

/** The options the `midge` command runs with: its own defaults (CLI_DEFAULTS: LevelDB, HTTP on) under what was given. */
export function withCliDefaults(options: BrokerOptions): BrokerOptions {
  return { ...CLI_DEFAULTS, ...options };
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

/** A flag of the table: which option it sets, and to what for a boolean (`--no-x` sets false). */
interface FlagTarget {
  readonly key: OptionKey;
  readonly spec: OptionSpec<unknown>;
  readonly boolean: boolean;
  readonly sets?: boolean;
}

/** Every flag the table generates, by name without `--`. */
function flagTargets(): Map<string, FlagTarget> {
  const out = new Map<string, FlagTarget>();
  for (const [key, spec] of optionEntries()) {
    const flag = flagOf(key);
    if (flag === undefined) continue;
    const boolean = typeof spec.default === 'boolean';
    out.set(flag, { key, spec, boolean, sets: boolean ? true : undefined });
    if (boolean) out.set(`no-${flag}`, { key, spec, boolean, sets: false });
  }
  return out;
}

const META_FLAGS = {
  config: { type: 'string' },
  cluster: { type: 'string' },
  'node-id': { type: 'string' },
  'print-config': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

/** A flag's text as the option's value: integers become numbers (the schema checks the range and reports the rest). */
function valueOf(flag: string, target: FlagTarget, raw: string | boolean): unknown {
  if (target.boolean) return target.sets;
  const text = raw as string;
  if (target.spec.flagReadsFile) return secretFile(`--${flag}`, text);
  if (typeof target.spec.default === 'number' && /^-?\d+$/.test(text)) return Number(text);
  return text;
}

function secretFile(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** `--cluster URLS --node-id ID` as the `cluster` option; the two go together. */
function clusterOf(servers: string | boolean | undefined, nodeId: string | boolean | undefined): { servers: string; nodeId: string } | undefined {
  if (servers === undefined && nodeId === undefined) return undefined;
  if (typeof servers !== 'string' || typeof nodeId !== 'string') {
    throw new UsageError('invalid option: --cluster and --node-id go together (e.g. --cluster nats://127.0.0.1:4222 --node-id n1)');
  }
  return { servers, nodeId };
}

/** parseArgs' complaint in Midge's words: `--prot: unknown option (did you mean --port?)`. */
function usageErrorOf(err: unknown, known: readonly string[]): UsageError {
  const e = err as NodeJS.ErrnoException;
  const message = e.message ?? String(err);
  const unknown = /Unknown option '(-{1,2}[^']+)'/.exec(message)?.[1];
  if (unknown !== undefined) {
    const name = unknown.replace(/^-+/, '').split('=')[0] ?? '';
    const hint = closest(name, known);
    return new UsageError(`invalid option: ${unknown}: unknown option${hint ? ` (did you mean --${hint}?)` : ''}`);
  }
  const missing = /Option '(-{1,2}[\w-]+)[^']*' argument missing/.exec(message)?.[1];
  if (missing !== undefined) return new UsageError(`invalid option: ${missing}: expected a value`);
  const positional = /Unexpected argument '([^']+)'/.exec(message)?.[1];
  if (positional !== undefined) return new UsageError(`invalid option: unexpected argument "${positional}" (see midge --help)`);
  return new UsageError(`invalid option: ${message} (see midge --help)`);
}

/** Parses argv (without node and script) into a command; options come from flags, `MIDGE_*` env and the config file. */
export function parseCommandLine(argv: string[], env: Record<string, string | undefined> = process.env): Command {
  const targets = flagTargets();
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { ...META_FLAGS };
  for (const [flag, target] of targets) options[flag] = { type: target.boolean ? 'boolean' : 'string' };
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(argv), strict: true, allowPositionals: false, options });
  } catch (err) {
    throw usageErrorOf(err, [...Object.keys(options)]);
  }
  const v = parsed.values as Record<string, string | boolean | undefined>;
  if (v.help) return { kind: 'help' };
  if (v.version) return { kind: 'version' };
  const fromFlags: Record<string, unknown> = {};
  for (const [flag, target] of targets) {
    const raw = v[flag];
    if (raw !== undefined) fromFlags[target.key] = valueOf(flag, target, raw);
  }
  const cluster = clusterOf(v.cluster, v['node-id']);
  if (cluster !== undefined) fromFlags.cluster = cluster;
  const config = typeof v.config === 'string' ? v.config : env[CONFIG_ENV];
  const loaded = loadConfig({ file: config, env, flags: fromFlags as BrokerOptions });
  return { kind: v['print-config'] ? 'print-config' : 'run', options: loaded, configFile: config };
}
