import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parseCommandLine, withCliDefaults } from '../../src/cli/args.js';
import { envName, flagName, formatConfig, loadConfig } from '../../src/config/load.js';
import { CONFIG_FIELDS } from '../../src/config/schema.js';
import { isBrokerError } from '../../src/errors.js';
import { createLogger, effectiveLogFormat } from '../../src/logger.js';
import { CLI_DEFAULTS, DEFAULTS, resolveOptions } from '../../src/options.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function tempFile(name: string, text: string): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'midge-config-')), name);
  writeFileSync(file, text);
  return file;
}

/** The message of the ERR_INVALID_OPTION that `fn` throws. */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(isBrokerError(err, 'ERR_INVALID_OPTION')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected ERR_INVALID_OPTION');
}

describe('configuration layers', () => {
  it('flags win over env, env wins over the file', () => {
    const file = tempFile('midge.yaml', 'port: 1000\nwsPort: 1001\nhttpPort: 1002\n');
    const options = loadConfig({ file, env: { MIDGE_WS_PORT: '2001', MIDGE_HTTP_PORT: '2002' }, flags: { httpPort: 3002, port: undefined } });
    expect(options).toEqual({ port: 1000, wsPort: 2001, httpPort: 3002 });
  });

  it('reads YAML and JSON files; MIDGE_CONFIG names the file when --config is absent', () => {
    const json = tempFile('midge.json', JSON.stringify({ logFormat: 'text', topicAliasOutbound: false }));
    expect(loadConfig({ file: json })).toEqual({ logFormat: 'text', topicAliasOutbound: false });
    const yaml = tempFile('midge.yml', '# comment\nsysInterval: 0\ndataDir: /var/lib/midge\n');
    const cmd = parseCommandLine(['--port', '0'], { MIDGE_CONFIG: yaml });
    expect(cmd).toEqual({ kind: 'run', options: { sysInterval: 0, dataDir: '/var/lib/midge', port: 0 }, configFile: yaml });
  });

  it('reads env values as the option type: numbers, booleans, and text as text', () => {
    const env = { MIDGE_PORT: '-1', MIDGE_TOPIC_ALIAS_OUTBOUND: 'false', MIDGE_HOST: '127.0.0.1', MIDGE_RESPONSE_INFORMATION_PREFIX: '42', PATH: '/bin', MIDGE_CRASH_SEED: '7', MIDGE_FUZZ_CASES: '9' };
    expect(loadConfig({ env })).toEqual({ port: -1, topicAliasOutbound: false, host: '127.0.0.1', responseInformationPrefix: '42' });
  });

  it('an empty file is an empty layer', () => {
    expect(loadConfig({ file: tempFile('empty.yaml', '') })).toEqual({});
  });
});

describe('configuration errors name the key, the expectation and what was found', () => {
  it('in a file, with the file name and key path', () => {
    const file = tempFile('bad.yaml', 'port: eighty\n');
    expect(errorOf(() => loadConfig({ file }))).toBe(`invalid option: config file ${file}: port: expected an integer from -1 to 65535, found "eighty"`);
  });

  it('several problems are reported together', () => {
    const file = tempFile('bad.json', JSON.stringify({ durability: 'sometimes', maxInflight: 0 }));
    const message = errorOf(() => loadConfig({ file }));
    expect(message).toContain('durability: expected fsync|batch|none, found "sometimes"');
    expect(message).toContain('maxInflight: expected an integer from 1 to 65535, found 0');
  });

  it('an unknown key suggests the closest known one, in the spelling of its layer', () => {
    expect(errorOf(() => loadConfig({ file: tempFile('a.yaml', 'ws_port: 9\n') }))).toContain('ws_port: unknown option (did you mean wsPort?)');
    expect(errorOf(() => loadConfig({ file: tempFile('b.yaml', 'maxInflite: 9\n') }))).toContain('did you mean maxInflight?');
    expect(errorOf(() => loadConfig({ env: { MIDGE_PROT: '1' } }))).toBe('invalid option: MIDGE_PROT: unknown option (did you mean MIDGE_PORT?)');
    expect(errorOf(() => loadConfig({ env: { MIDGE_LOGLEVEL: 'debug' } }))).toContain('did you mean MIDGE_LOG_LEVEL?');
    expect(errorOf(() => loadConfig({ file: tempFile('c.yaml', 'zzzzzzzz: 1\n') }))).toMatch(/zzzzzzzz: unknown option$/);
  });

  it('env and flag values are named by their variable and flag', () => {
    expect(errorOf(() => loadConfig({ env: { MIDGE_SYS_INTERVAL: 'often' } }))).toBe(
      'invalid option: MIDGE_SYS_INTERVAL: expected an integer from 0 to 86400, found "often"',
    );
    expect(errorOf(() => parseCommandLine(['--http-port', '70000'], {}))).toBe(
      'invalid option: --http-port: expected an integer from -1 to 65535, found 70000',
    );
  });

  it('a value of the wrong type shows what was found', () => {
    expect(errorOf(() => loadConfig({ file: tempFile('d.json', JSON.stringify({ host: { name: 'x' } })) }))).toContain('host: expected a host name or address, found {"name":"x"}');
    expect(errorOf(() => resolveOptions({ plugins: 'none' } as never))).toContain('plugins: expected an array of plugin objects, found "none"');
  });

  it('unreadable or malformed files give one line', () => {
    expect(errorOf(() => loadConfig({ file: '/nonexistent/midge.yaml' }))).toBe('invalid option: cannot read config file /nonexistent/midge.yaml: ENOENT');
    const yaml = errorOf(() => loadConfig({ file: tempFile('e.yaml', 'port: [1\n') }));
    expect(yaml).toMatch(/is not valid YAML/);
    expect(yaml).not.toContain('\n');
    expect(errorOf(() => loadConfig({ file: tempFile('f.yaml', '- 1\n- 2\n') }))).toMatch(/must hold a mapping/);
  });
});

describe('cluster mode options', () => {
  it('--cluster and --node-id set the cluster option; MIDGE_CLUSTER takes it as JSON; defaults fill prefix and replicas', () => {
    const run = parseCommandLine(['--cluster', 'nats://127.0.0.1:4222,nats://127.0.0.1:4223', '--node-id', 'n1'], {});
    expect(run.kind === 'run' && resolveOptions(run.options).cluster).toEqual({ servers: ['nats://127.0.0.1:4222', 'nats://127.0.0.1:4223'], nodeId: 'n1', prefix: 'midge', replicas: 1, sinkLeaseMs: 10_000 });
    const env = parseCommandLine([], { MIDGE_CLUSTER: '{"servers":"nats://a:4222","nodeId":"n2","replicas":3,"sinkLeaseSeconds":4}' });
    expect(env.kind === 'run' && resolveOptions(env.options).cluster).toEqual({ servers: ['nats://a:4222'], nodeId: 'n2', prefix: 'midge', replicas: 3, sinkLeaseMs: 4000 });
    expect(() => resolveOptions({ cluster: { servers: 'nats://a:4222', nodeId: 'n3', sinkLeaseSeconds: 0 } })).toThrow(/sinkLeaseSeconds/);
    expect(resolveOptions({}).cluster).toBeUndefined();
  });

  it('one of the two flags alone, or a bad node id, is a usage error', () => {
    expect(() => parseCommandLine(['--cluster', 'nats://127.0.0.1:4222'], {})).toThrow(/--cluster and --node-id go together/);
    expect(() => parseCommandLine(['--node-id', 'n1'], {})).toThrow(/--cluster and --node-id go together/);
    expect(() => parseCommandLine(['--cluster', 'nats://x:4222', '--node-id', 'a.b'], {})).toThrow(/cluster/);
  });
});

describe('reference and example', () => {
  it('every default has a validated config key, an env name, a flag name and a line in docs/configuration.md', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(path.join(ROOT, 'docs/configuration.md'), 'utf8');
    for (const key of Object.keys(DEFAULTS)) {
      expect(CONFIG_FIELDS[key], key).toBeDefined();
      expect(doc, `docs/configuration.md documents ${key}`).toContain(`\`${key}\``);
      expect(doc, `docs/configuration.md names ${envName(key)}`).toContain(envName(key));
    }
    expect(Object.keys(CONFIG_FIELDS).filter((k) => !(k in DEFAULTS))).toEqual(['store', 'cluster', 'bridge', 'bridges']);
    expect(flagName('wsPort')).toBe('--ws-port');
  });

  it('midge.example.yaml loads, validates, and states the defaults', () => {
    const file = path.join(ROOT, 'midge.example.yaml');
    const options = loadConfig({ file });
    expect(resolveOptions(options)).toMatchObject({ ...DEFAULTS, ...CLI_DEFAULTS }); // the midge command's defaults
    expect(Object.keys(options).sort()).toEqual([...Object.keys(DEFAULTS), 'store', 'bridge', 'bridges'].sort());
  });

  it('--print-config shows the effective configuration as YAML', () => {
    const cmd = parseCommandLine(['--print-config', '--port', '1884'], { MIDGE_LOG_FORMAT: 'text' });
    expect(cmd.kind).toBe('print-config');
    if (cmd.kind !== 'print-config') return;
    const printed = parseYaml(formatConfig(resolveOptions(withCliDefaults(cmd.options)))) as Record<string, unknown>;
    const bridge = { streams: {}, rules: [], sinks: [], overflow: 'drop-oldest', retentionIntervalMs: 1000, admin: true };
    expect(printed).toEqual({ ...DEFAULTS, port: 1884, logFormat: 'text', store: 'level', httpPort: 8080, bridge, bridges: [] });
    expect(resolveOptions(printed).bridge).toEqual(resolveOptions({}).bridge); // what it prints loads again
  });
});

describe('text log format (pino-pretty)', () => {
  it('writes one readable line per entry, local time first, with its fields; an error stays on its line', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const logger = createLogger('info', 'text', out);
    logger.info({ clientId: 'sensor 1', listener: 'tcp', code: 'ERR_X' }, 'client disconnected');
    logger.debug('hidden at info');
    logger.error({ err: new Error('boom') }, 'failed');
    await new Promise((r) => setImmediate(r));
    const lines = text.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: client disconnected \{"clientId":"sensor 1","listener":"tcp","code":"ERR_X"\}$/);
    expect(lines[1]).toMatch(/ERROR: failed .*"message":"boom"/);
  });

  it('auto is text on a terminal and JSON otherwise', () => {
    expect(effectiveLogFormat('auto', Object.assign(new PassThrough(), { isTTY: true }))).toBe('text');
    expect(effectiveLogFormat('auto', new PassThrough())).toBe('json');
    expect(effectiveLogFormat('json', Object.assign(new PassThrough(), { isTTY: true }))).toBe('json');
  });
});

describe('docs/grafana-dashboard.json', () => {
  it('is valid JSON whose queries use only metrics the broker exports', async () => {
    const { readFileSync } = await import('node:fs');
    const { Broker } = await import('../../src/broker.js');
    const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'docs/grafana-dashboard.json'), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    // httpPort: process metrics are collected only by a broker that serves /metrics (start() binds nothing)
    const broker = new Broker({ store: 'memory', logLevel: 'silent', httpPort: 0 });
    await broker.start();
    const exported = (await broker.metrics.text()).body;
    await broker.close();
    const used = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/\b(midge|process)_[a-z_]+/g) ?? [])));
    expect(used.size).toBeGreaterThan(10);
    for (const name of used) expect(exported, name).toMatch(new RegExp(`^# TYPE ${name.replace(/_(bucket|sum|count)$/, '')} `, 'm'));
  });
});
