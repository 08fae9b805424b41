/**
 * `midge migrate mosquitto.conf`: prints the Midge YAML configuration equivalent to a Mosquitto
 * configuration file, for the directives Midge has an equivalent of, and names every other one
 * with its line and the reason.
 */
import { readFileSync } from 'node:fs';
import { stringify as toYaml } from 'yaml';
import { parseAcl } from '../auth/acl.js';
import { UsageError } from './args.js';
import { BridgeTranslator } from './migrate-bridges.js';

export const MIGRATE_USAGE = `Usage: midge migrate MOSQUITTO_CONF > midge.yaml
  Prints the Midge configuration (YAML) equivalent to a Mosquitto configuration file, and lists
  every directive it cannot translate, with its line, at the end of the output (and counts them on
  stderr). Password files written by mosquitto_passwd and Mosquitto ACL files are used as they are.`;

/** One directive of the file. */
interface Directive {
  readonly name: string;
  readonly args: readonly string[];
  /** `file:line`. */
  readonly at: string;
  readonly text: string;
}

/** A listener block: `listener PORT [ADDRESS]` and the directives after it. */
interface Listener {
  readonly at: string;
  readonly port: number;
  readonly address: string | undefined;
  websockets: boolean;
  certfile?: string;
  keyfile?: string;
  cafile?: string;
  requireCertificate?: boolean;
  identityAsUsername?: boolean;
  /** Where each of the block's directives was (`file:line text`), for the output's comments. */
  readonly sources: Map<string, string>;
}

/** What the translation produced. */
export interface Migration {
  /** Option name → value, and where it came from. */
  readonly options: Map<string, { value: unknown; from: string }>;
  /** `file:line: directive: why` for each directive left out. */
  readonly untranslated: string[];
  /** Differences in behaviour worth knowing, though the directive was translated. */
  readonly notes: string[];
}

const NO_LIMIT_PACKET = 268_435_455;

/** Directives Midge has no equivalent of, with the reason given. */
const UNSUPPORTED: Record<string, string> = {
  persistence_file: 'Midge keeps a LevelDB directory (dataDir), not a single file',
  autosave_interval: 'Midge writes through to its store (durability: fsync), there is no periodic save',
  autosave_on_changes: 'Midge writes through to its store (durability: fsync), there is no periodic save',
  max_inflight_bytes: 'Midge bounds the in-flight window by count (maxInflight) only',
  capath: 'give one CA file (tlsCa)',
  tls_version: "Midge uses Node.js's TLS defaults (TLS 1.2 and 1.3)",
  ciphers: "Midge uses Node.js's default cipher list",
  ciphers_tls1_3: "Midge uses Node.js's default cipher list",
  use_subject_as_username: 'Midge can use the Common Name as the username (certAsUsername), not the whole subject',
  psk_hint: 'Midge has no TLS-PSK',
  psk_file: 'Midge has no TLS-PSK',
  mount_point: 'Midge has no mount points',
  http_dir: 'Midge serves its own status page on the HTTP listener (httpPort)',
  socket_domain: 'Midge binds the address family of `host`',
  bind_interface: 'give the interface address as host',
  pid_file: 'run Midge under systemd (docs/midge.service) or another supervisor',
  user: 'run Midge as an unprivileged user under systemd (docs/midge.service)',
  include_dir: 'translate the included files too, and merge the output',
  log_dest: 'Midge logs to standard output (logFormat json or text)',
  log_type: 'use logLevel (fatal|error|warn|info|debug|trace)',
  log_timestamp: 'Midge logs always carry a timestamp',
  log_timestamp_format: 'Midge logs carry ISO timestamps (JSON) or local time (text)',
  connection_messages: 'Midge always logs connections at info',
  websockets_log_level: 'Midge logs WebSocket connections like TCP ones',
  queue_qos0_messages: "Midge's choice of what an offline session queues is not configurable",
  upgrade_outgoing_qos: 'Midge delivers at the lower of the two QoS, as MQTT requires',
  allow_zero_length_clientid: 'Midge always accepts an empty client id with a clean session, as MQTT requires',
  auto_id_prefix: 'Midge assigns client ids itself',
  check_retain_source: 'no equivalent',
  set_tcp_nodelay: 'Midge always sets TCP_NODELAY',
  allow_duplicate_messages: 'no equivalent',
  memory_limit: 'Midge bounds queues, windows and buffers instead (maxQueuedBytes, maxWriteBuffer)',
  plugin: 'Mosquitto plugins do not run in Midge; write a Midge plugin (README, Plugins)',
  auth_plugin: 'Mosquitto plugins do not run in Midge; write a Midge plugin (README, Plugins)',
  plugin_opt: 'Mosquitto plugins do not run in Midge',
  clientid_prefixes: 'no equivalent',
  max_qos: 'Midge supports QoS 0, 1 and 2 on every listener',
  websockets_headers_size: 'no equivalent',
  use_username_as_clientid: 'no equivalent',
  accept_protocol_versions: 'Midge accepts MQTT 3.1, 3.1.1 and 5.0',
};

/** Bridge (`connection`) directives: named as one group. */
const BRIDGE = /^(connection|address|addresses|topic|clientid|bridge_\w+|remote_\w+|local_\w+|cleansession|notifications\w*|restart_timeout|round_robin|start_type|idle_timeout|threshold|try_private|keepalive_interval|notification_topic)$/;

function parse(text: string, file: string): Directive[] {
  const out: Directive[] = [];
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [name = '', ...args] = line.split(/\s+/);
    out.push({ name, args, at: `${file}:${index + 1}`, text: line });
  }
  return out;
}

function bool(d: Directive): boolean | undefined {
  const v = d.args[0];
  return v === 'true' ? true : v === 'false' ? false : undefined;
}

function integer(d: Directive): number | undefined {
  const v = d.args[0];
  return v !== undefined && /^-?\d+$/.test(v) ? Number(v) : undefined;
}

/** `1h`, `2d`, `3w`, `1m` (month), `1y` as seconds (Mosquitto's persistent_client_expiration). */
function duration(value: string | undefined): number | undefined {
  const m = /^(\d+)([hdwmy])$/.exec(value ?? '');
  if (!m) return undefined;
  const unit = { h: 3600, d: 86_400, w: 604_800, m: 2_592_000, y: 31_536_000 }[m[2] as 'h' | 'd' | 'w' | 'm' | 'y'];
  return Math.min(Number(m[1]) * unit, 0xffffffff);
}

/** Numeric directives: the Midge option, the range Mosquitto allows, and how a value maps (undefined: not translated, with why). */
const NUMBERS: Record<string, { key: string; min: number; max: number; map?: (n: number) => number | string }> = {
  max_queued_messages: { key: 'maxQueuedMessages', min: 0, max: Number.MAX_SAFE_INTEGER, map: (n) => n || NO_QUEUE_LIMIT },
  max_queued_bytes: { key: 'maxQueuedBytes', min: 0, max: Number.MAX_SAFE_INTEGER, map: (n) => n || NO_QUEUE_LIMIT },
  max_inflight_messages: { key: 'maxInflight', min: 0, max: Number.MAX_SAFE_INTEGER, map: (n) => (n === 0 ? 65535 : Math.min(n, 65535)) },
  // A payload limit; maxPacketSize bounds the whole packet, so leave room for the topic and header
  message_size_limit: { key: 'maxPacketSize', min: 0, max: Number.MAX_SAFE_INTEGER, map: (n) => (n === 0 ? NO_LIMIT_PACKET : Math.min(n + 65_546, NO_LIMIT_PACKET)) },
  max_packet_size: { key: 'maxPacketSize', min: 0, max: Number.MAX_SAFE_INTEGER, map: (n) => (n === 0 ? NO_LIMIT_PACKET : Math.max(64, Math.min(n, NO_LIMIT_PACKET))) },
  max_keepalive: { key: 'maxKeepAlive', min: 0, max: 65535 },
  max_connections: { key: 'maxConnections', min: -1, max: Number.MAX_SAFE_INTEGER, map: (n) => Math.max(n, 0) },
  sys_interval: { key: 'sysInterval', min: 0, max: 86_400 },
};
const NO_QUEUE_LIMIT = '0 means no limit in Mosquitto; Midge always bounds queues (the option keeps its default, raise it if needed)';

/** Translates the text of a mosquitto.conf. `readFile` reads the ACL file it names, to check it (optional). */
export function migrateMosquitto(text: string, file: string, readFile: (path: string) => string | undefined = () => undefined): Migration {
  const translator = new Translator(readFile);
  for (const d of parse(text, file)) translator.add(d);
  return translator.finish();
}

/** Walks the directives in order: listener blocks collect their own, the rest map to options. */
class Translator {
  readonly options = new Map<string, { value: unknown; from: string }>();
  readonly untranslated: string[] = [];
  readonly notes: string[] = [];
  readonly #readFile: (path: string) => string | undefined;
  readonly #listeners: Listener[] = [];
  #current: Listener | undefined;
  #defaultListener: { port?: number; address?: string; at: string } | undefined;
  #anonymous: boolean | undefined;
  #passwordFile = false;
  readonly #bridges = new BridgeTranslator((d, why) => this.#skip(d, why));

  constructor(readFile: (path: string) => string | undefined) {
    this.#readFile = readFile;
  }

  add(d: Directive): void {
    if (BRIDGE.test(d.name)) return this.#bridges.add(d);
    if (translateListenerDirective(d, this.#current) === 'done') return;
    const number = NUMBERS[d.name];
    if (number) return this.#number(d, number);
    switch (d.name) {
      case 'listener':
        return this.#listener(d);
      case 'port':
        this.#defaultListener = { ...this.#defaultListener, at: d.at, port: integer(d) };
        return;
      case 'bind_address':
        this.#defaultListener = { ...this.#defaultListener, at: d.at, address: d.args[0] };
        return;
      case 'allow_anonymous':
        this.#anonymous = bool(d);
        return this.#set('allowAnonymous', this.#anonymous, d);
      case 'password_file':
        this.#passwordFile = true;
        return this.#set('passwordFile', d.args.join(' '), d);
      case 'acl_file':
        this.#set('aclFile', d.args.join(' '), d);
        return checkAcl(d, this.#readFile, this.notes, this.untranslated);
      case 'persistence':
        return this.#set('store', bool(d) ? 'level' : 'memory', d);
      case 'persistence_location':
        return this.#set('dataDir', d.args.join(' '), d);
      case 'retain_available':
        if (bool(d) === false) this.#skip(d, 'Midge always offers retained messages');
        return;
      case 'persistent_client_expiration':
        return this.#expiration(d);
      case 'per_listener_settings':
        if (bool(d)) this.#skip(d, 'Midge applies one set of security and limit settings to every listener; the settings of each listener were merged');
        return;
      default:
        this.#skip(d, UNSUPPORTED[d.name] ?? 'unknown to midge migrate');
    }
  }

  finish(): Migration {
    applyListeners(this.#listeners, this.#defaultListener, this.options, this.untranslated);
    const bridges = this.#bridges.bridges((at, why) => this.untranslated.push(`${at}: ${why}`));
    if (bridges) this.options.set('bridges', { value: bridges.bridges, from: bridges.from });
    if (this.#anonymous === false && !this.#passwordFile) {
      this.notes.push('allow_anonymous false without a password_file refuses every client in Mosquitto; Midge needs a passwordFile (or JWT, or a plugin) to refuse anyone');
    }
    if (this.#anonymous === undefined && this.#passwordFile) this.notes.push('Mosquitto 2 refuses anonymous clients by default, and so does Midge once a passwordFile is set');
    return { options: this.options, untranslated: this.untranslated, notes: this.notes };
  }

  #set(key: string, value: unknown, d: Directive): void {
    this.options.set(key, { value, from: `${d.at} ${d.text}` });
  }

  #skip(d: Directive, why: string): void {
    this.untranslated.push(`${d.at}: ${d.text}: ${why}`);
  }

  #listener(d: Directive): void {
    const port = integer(d);
    if (port === undefined || port < 0 || port > 65535) {
      this.#skip(d, 'expected a port number');
      this.#current = undefined;
      return;
    }
    this.#current = { at: d.at, port, address: d.args[1], websockets: false, sources: new Map() };
    if (port === 0) this.#skip(d, 'a unix socket listener: Midge listens on TCP');
    else this.#listeners.push(this.#current);
  }

  #number(d: Directive, spec: (typeof NUMBERS)[string]): void {
    const n = integer(d);
    if (n === undefined || n < spec.min || n > spec.max) return this.#skip(d, `expected a number from ${spec.min} to ${spec.max}`);
    const value = spec.map ? spec.map(n) : n;
    if (typeof value === 'string') return this.#skip(d, value);
    this.#set(spec.key, value, d);
    if (d.name === 'max_connections' && this.#current) {
      this.notes.push(`${d.at}: max_connections is per listener in Mosquitto; in Midge maxConnections counts every listener together`);
    }
  }

  #expiration(d: Directive): void {
    const seconds = duration(d.args[0]);
    if (seconds === undefined) return this.#skip(d, 'expected a duration such as 1d, 2w or 1m');
    this.#set('maxSessionExpiryInterval', seconds, d);
    this.notes.push(`${d.at}: in Midge maxSessionExpiryInterval caps the expiry of every session, MQTT 5 ones too`);
  }
}

/** Applies a directive that belongs to the current listener block; 'done' when it did. */
function translateListenerDirective(d: Directive, current: Listener | undefined): 'done' | undefined {
  if (!current) return undefined;
  const value = d.args.join(' ');
  current.sources.set(d.name, `${d.at} ${d.text}`);
  switch (d.name) {
    case 'protocol':
      current.websockets = d.args[0] === 'websockets';
      return 'done';
    case 'certfile':
      current.certfile = value;
      return 'done';
    case 'keyfile':
      current.keyfile = value;
      return 'done';
    case 'cafile':
      current.cafile = value;
      return 'done';
    case 'require_certificate':
      current.requireCertificate = bool(d) === true;
      return 'done';
    case 'use_identity_as_username':
      current.identityAsUsername = bool(d) === true;
      return 'done';
    default:
      return undefined;
  }
}

/** The listeners as Midge's four (TCP, WebSocket, TLS, secure WebSocket) on one host. */
function applyListeners(
  listeners: Listener[],
  defaultListener: { port?: number; address?: string; at: string } | undefined,
  options: Map<string, { value: unknown; from: string }>,
  untranslated: string[],
): void {
  const all = [...listeners];
  if (defaultListener?.port !== undefined) all.unshift({ at: defaultListener.at, port: defaultListener.port, address: defaultListener.address, websockets: false, sources: new Map() });
  if (all.length === 0) {
    // Mosquitto 2 without a listener: port 1883 on the loopback interface only
    const from = 'no listener (Mosquitto 2 then listens on localhost:1883 only)';
    for (const [key, value] of [['host', '127.0.0.1'], ['port', 1883], ['wsPort', -1], ['tlsPort', -1], ['wssPort', -1]] as const) options.set(key, { value, from });
    return;
  }
  const taken = new Map<string, Listener>();
  const host = all[0]?.address ?? '0.0.0.0';
  options.set('host', { value: host, from: `${all[0]?.at} (every Midge listener binds to one host)` });
  for (const l of all) {
    const secure = l.certfile !== undefined;
    const key = l.websockets ? (secure ? 'wssPort' : 'wsPort') : secure ? 'tlsPort' : 'port';
    const what = `listener ${l.port}${l.address ? ` ${l.address}` : ''}`;
    if (taken.has(key)) {
      untranslated.push(`${l.at}: ${what}: Midge has one ${key} listener (${taken.get(key)?.at} already gives it)`);
      continue;
    }
    if ((l.address ?? '0.0.0.0') !== host) untranslated.push(`${l.at}: ${what}: bound to ${l.address ?? 'every interface'}; Midge binds every MQTT listener to host ${host}`);
    taken.set(key, l);
    options.set(key, { value: l.port, from: `${l.at} ${what}${l.websockets ? ' (websockets)' : ''}` });
    if (secure) applyTls(l, options, untranslated);
  }
  for (const key of ['port', 'wsPort', 'tlsPort', 'wssPort']) if (!taken.has(key)) options.set(key, { value: -1, from: 'no such listener in the Mosquitto file' });
}

/** The listener directive each TLS file option comes from. */
const DIRECTIVE_OF: Record<string, string> = { tlsCert: 'certfile', tlsKey: 'keyfile', tlsCa: 'cafile' };

function applyTls(l: Listener, options: Map<string, { value: unknown; from: string }>, untranslated: string[]): void {
  const files: [string, string | undefined][] = [['tlsCert', l.certfile], ['tlsKey', l.keyfile], ['tlsCa', l.cafile]];
  for (const [key, file] of files) {
    if (file === undefined) continue;
    const existing = options.get(key);
    if (existing && existing.value !== file) untranslated.push(`${l.at}: ${key} ${file}: Midge's TLS and secure WebSocket listeners share one certificate (${existing.value} kept)`);
    else options.set(key, { value: file, from: l.sources.get(DIRECTIVE_OF[key] ?? '') ?? `${l.at} listener ${l.port}` });
  }
  if (l.requireCertificate) options.set('requireClientCert', { value: true, from: l.sources.get('require_certificate') ?? l.at });
  if (l.identityAsUsername) options.set('certAsUsername', { value: true, from: l.sources.get('use_identity_as_username') ?? l.at });
}

/** Checks that Midge reads the ACL file, and warns of the one difference in meaning. */
function checkAcl(d: Directive, readFile: (path: string) => string | undefined, notes: string[], untranslated: string[]): void {
  const path = d.args.join(' ');
  const text = readFile(path);
  if (text === undefined) {
    notes.push(`${d.at}: ${path} could not be read here, so it was not checked; Midge reads Mosquitto ACL files as they are`);
    return;
  }
  try {
    parseAcl(text, path);
  } catch (err) {
    untranslated.push(`${d.at}: acl_file ${path}: Midge cannot read it: ${(err as Error).message}`);
    return;
  }
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const firstSection = lines.findIndex((l) => /^(user|client|everyone)\b/.test(l));
  const before = (firstSection < 0 ? lines : lines.slice(0, firstSection)).filter((l) => l.startsWith('topic'));
  if (before.length > 0) {
    notes.push(`${path}: ${before.length} topic rule(s) before the first "user" line apply only to anonymous clients in Mosquitto, but to every client in Midge`);
  }
}

/** The migration as YAML, with the source of each option and the untranslated directives as comments. */
export function formatMigration(migration: Migration, file: string): string {
  const lines = [`# Midge configuration translated from ${file} by \`midge migrate\`.`, '# Check it with: midge --config THIS_FILE --print-config', ''];
  for (const [key, { value, from }] of migration.options) {
    lines.push(`${toYaml({ [key]: value }).trimEnd()}    # ${from.replace(/\s+/g, ' ')}`);
  }
  if (migration.notes.length > 0) lines.push('', '# Worth knowing:', ...migration.notes.map((n) => `#   ${n}`));
  lines.push('', migration.untranslated.length === 0 ? '# Every directive was translated.' : `# Not translated (${migration.untranslated.length}):`);
  lines.push(...migration.untranslated.map((u) => `#   ${u}`));
  return `${lines.join('\n')}\n`;
}

/** Runs `midge migrate FILE` (argv after "migrate"); returns the exit code. */
export function runMigrate(argv: string[], out: (text: string) => void, err: (text: string) => void): number {
  if (argv.includes('-h') || argv.includes('--help')) {
    out(`${MIGRATE_USAGE}\n`);
    return 0;
  }
  const [file, ...extra] = argv;
  if (file === undefined || extra.length > 0 || file.startsWith('-')) throw new UsageError(`expected one Mosquitto configuration file\n${MIGRATE_USAGE}`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const readFile = (path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return undefined;
    }
  };
  const migration = migrateMosquitto(text, file, readFile);
  out(formatMigration(migration, file));
  const count = migration.untranslated.length;
  if (count > 0) err(`midge migrate: ${count} directive${count === 1 ? '' : 's'} not translated (listed at the end of the output)\n`);
  return 0;
}
