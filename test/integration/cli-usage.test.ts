import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { afterEach, describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const children: ChildProcess[] = [];
const servers: net.Server[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs midge to its end (killed after `timeoutMs`) in a fresh working directory. */
function midge(args: string[], timeoutMs = 20_000, env: Record<string, string> = {}): Promise<Result> {
  const cwd = mkdtempSync(path.join(tmpdir(), 'midge-usage-'));
  const started = Date.now();
  const child = spawn(process.execPath, [MAIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', ...env } });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    }),
  );
}

function oneLine(r: Result): string {
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^midge: /);
  return lines[0] as string;
}

const QUIET = ['--host', '127.0.0.1', '--port', '0', '--ws-port', '-1', '--http-port', '-1', '--store', 'memory', '--sys-interval', '0'];

describe('usage errors: exit 2 and one message style (defect 3)', () => {
  it('a bad integer, an out-of-range port, a bad level and a typo all exit 2 in the same words', { timeout: 60_000 }, async () => {
    const cases: [string[], string][] = [
      [['--port', 'abc'], 'midge: invalid option: --port: expected an integer from -1 to 65535, found "abc"'],
      [['--http-port', '70000'], 'midge: invalid option: --http-port: expected an integer from -1 to 65535, found 70000'],
      [['--log-level', 'verbose'], 'midge: invalid option: --log-level: expected fatal|error|warn|info|debug|trace|silent, found "verbose"'],
      [['--max-conections', '5'], 'midge: invalid option: --max-conections: unknown option (did you mean --max-connections?)'],
      [['--port'], 'midge: invalid option: --port: expected a value'],
    ];
    const results: Result[] = [];
    for (const [args] of cases) results.push(await midge(args)); // one at a time: a loaded machine starts node slowly
    results.forEach((r, i) => {
      expect(r.code, cases[i]?.[0].join(' ')).toBe(2);
      expect(oneLine(r)).toBe(cases[i]?.[1]);
    });
  });

  it('a TLS certificate without its key is a usage error too', async () => {
    const r = await midge([...QUIET, '--cert', 'c.pem']);
    expect(r.code).toBe(2);
    expect(oneLine(r)).toMatch(/tlsKey: expected tlsCert and tlsKey set together/);
  });
});

describe('a start that fails (defect 4)', () => {
  it('a port in use: one line in the listeners\' words, and no "midge stopped" for a broker that never started', async () => {
    const blocker = net.createServer();
    servers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    const [tcp, http] = await Promise.all([
      midge(['--host', '127.0.0.1', '--port', String(port), '--ws-port', '-1', '--http-port', '-1', '--store', 'memory']),
      midge(['--host', '127.0.0.1', '--port', '0', '--ws-port', '-1', '--http-port', String(port), '--store', 'memory']),
    ]);
    expect(oneLine(tcp)).toBe(`midge: cannot listen: TCP 127.0.0.1:${port}: address already in use`);
    expect(oneLine(http)).toBe(`midge: cannot listen: HTTP 127.0.0.1:${port}: address already in use`);
    for (const r of [tcp, http]) {
      expect(r.code).toBe(1);
      expect(r.stdout).not.toContain('midge stopped');
    }
  });

  it('an unusable host says so in one line', async () => {
    const r = await midge(['--host', '192.0.2.1', '--port', '0', '--ws-port', '-1', '--http-port', '-1', '--store', 'memory']);
    expect(r.code).toBe(1);
    expect(oneLine(r)).toMatch(/^midge: cannot listen: TCP 192\.0\.2\.1:0: address not available on this machine$/);
    expect(r.stdout).not.toContain('midge stopped');
  });
});

describe('--print-config redacts secrets (defect 5)', () => {
  it('jwtSecret from a file, and credentials in sink URLs, are printed as <redacted>', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'midge-redact-'));
    const secret = path.join(dir, 'jwt.secret');
    writeFileSync(secret, 'do-not-print-me\n');
    const config = path.join(dir, 'midge.yaml');
    writeFileSync(config, 'bridge:\n  sinks:\n    - { type: redis, stream: s, url: "redis://app:hunter2@127.0.0.1:6379", key: k }\n');
    const r = await midge(['--config', config, '--jwt-secret-file', secret, '--print-config']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('do-not-print-me');
    expect(r.stdout).not.toContain('hunter2');
    const printed = parseYaml(r.stdout) as { jwtSecret: string; bridge: { sinks: { url: string }[] } };
    expect(printed.jwtSecret).toBe('<redacted>');
    expect(printed.bridge.sinks[0]?.url).toBe('redis://app:<redacted>@127.0.0.1:6379');
  });
});

describe('config file syntax errors (defect 6)', () => {
  it('name the line and column and show the offending line, whole', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'midge-yaml-'));
    const yaml = path.join(dir, 'midge.yaml');
    writeFileSync(yaml, 'port: 1883\nhost: "127.0.0.1\nwsPort: -1\n');
    const json = path.join(dir, 'midge.json');
    writeFileSync(json, '{\n  "port": 1883,\n}\n');
    const [y, j] = await Promise.all([midge(['--config', yaml]), midge(['--config', json])]);
    expect(y.code).toBe(2);
    expect(oneLine(y)).toMatch(/^midge: invalid option: config file .*midge\.yaml is not valid YAML: Missing closing "quote at line \d+, column \d+ \(line \d+: ".*"\)$/);
    expect(j.code).toBe(2);
    expect(oneLine(j)).toMatch(/is not valid JSON: .* at line 3, column 1 \(line 3: "}"\)$/);
  });
});

describe('an unusable data directory (defect 7)', () => {
  it('--data-dir /proc/nope fails at once with one line instead of spinning', async () => {
    const r = await midge(['--host', '127.0.0.1', '--port', '0', '--ws-port', '-1', '--http-port', '-1', '--data-dir', '/proc/nope/deeper']);
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(8000);
    expect(oneLine(r)).toMatch(/^midge: cannot open the store: \/proc\/nope\/deeper: cannot create the data directory \(at \/proc\/nope\): ENOENT$/);
  });

  it('a data directory that is a file says so', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'midge-datafile-'));
    const file = path.join(dir, 'data');
    writeFileSync(file, '');
    const r = await midge(['--host', '127.0.0.1', '--port', '0', '--ws-port', '-1', '--http-port', '-1', '--data-dir', file]);
    expect(r.code).toBe(1);
    expect(oneLine(r)).toContain(`${file} is not a directory`);
  });
});

describe('logs on a terminal', () => {
  const hasScript = spawnSync('script', ['--version']).error === undefined;
  it.skipIf(!hasScript)('are text with local timestamps when standard output is a TTY (run under script(1))', { timeout: 40_000 }, async () => {
    // midge runs until the test has seen its start line (then creates `seen`); bounded to 30 s
    const seen = path.join(mkdtempSync(path.join(tmpdir(), 'midge-tty-')), 'seen');
    const midgeCommand = `${JSON.stringify(process.execPath)} ${JSON.stringify(MAIN)} ${QUIET.join(' ')}`;
    // POSIX sh only: script(1) runs the command with $SHELL, which is dash (no `kill %1` without job control) on CI
    const command = `${midgeCommand} & pid=$!; i=0; while [ $i -lt 300 ] && [ ! -e ${seen} ]; do sleep 0.1; i=$((i+1)); done; kill $pid; wait $pid`;
    const r = await new Promise<string>((resolve) => {
      const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SHELL: '/bin/sh' } });
      children.push(child);
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('midge listening')) writeFileSync(seen, '');
      });
      child.on('close', () => resolve(out));
    });
    // eslint-disable-next-line no-control-regex
    const plain = r.replace(/\u001b\[[0-9;]*m/g, '');
    expect(plain).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: midge listening \{"version":"[\d.]+","store":"memory"/m);
    expect(plain).toMatch(/INFO: midge stopped/);
  });

  it('the default format is auto (JSON without a terminal, as the other CLI tests read it)', async () => {
    const r = await midge([...QUIET, '--print-config']);
    expect(r.stdout).toContain('logFormat: auto');
  });
});

describe('the command in a clone (issue 18, defect 9)', () => {
  it('the build leaves dist/src/cli/main.js executable, so `npx midge` runs it', async () => {
    expect(statSync(MAIN).mode & 0o111).not.toBe(0);
    const r = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn('npx', ['--no-install', 'midge', '--version'], { cwd: fileURLToPath(new URL('../../', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      let stdout = '';
      child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
      child.on('close', (code) => resolve({ code, stdout }));
    });
    expect(r).toEqual({ code: 0, stdout: expect.stringMatching(/^midge \d+\.\d+\.\d+\n$/) });
  });

  it('--help lists the subcommands, bench and migrate included (defect 12)', async () => {
    const r = await midge(['--help']);
    expect(r.code).toBe(0);
    for (const command of ['midge passwd', 'midge migrate', 'midge log', 'midge bench']) expect(r.stdout).toContain(command);
  });
});
