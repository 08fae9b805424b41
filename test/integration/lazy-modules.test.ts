import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

const MAIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

/** Packages a broker with default options must not load: each belongs to a feature that is off, or to the HTTP application before its first request. */
const OPTIONAL = ['nats', 'ioredis', 'kafkajs', 'jose', 'mqtt', 'yaml', 'fastify', 'pino-pretty'];

const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

beforeAll(() => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first with \`npx tsc -p tsconfig.json\` (npm test does this)`);
});

/**
 * Starts the CLI with module loader hooks that append every module URL it loads (ESM and CommonJS
 * alike) to a file; returns the child, its stdout so far, and a reader of the packages loaded.
 */
function startRecorded(args: string[]): { child: ChildProcess; output: () => string; packages: () => Set<string> } {
  const dir = mkdtempSync(path.join(tmpdir(), 'midge-lazy-'));
  dirs.push(dir);
  const log = path.join(dir, 'modules.txt');
  writeFileSync(log, '');
  const hooks = path.join(dir, 'hooks.mjs');
  writeFileSync(hooks, `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) {\n  appendFileSync(${JSON.stringify(log)}, url + '\\n');\n  return next(url, context);\n}\n`);
  const register = path.join(dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  const child = spawn(process.execPath, ['--import', pathToFileURL(register).href, MAIN, ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stdout += d.toString()));
  const packages = () => {
    const found = new Set<string>();
    for (const url of readFileSync(log, 'utf8').split('\n')) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
      if (match?.[1]) found.add(match[1]);
    }
    return found;
  };
  return { child, output: () => stdout, packages };
}

/** The 'midge listening' log line's HTTP port, once it has been printed (bounded wait). */
async function httpPort(output: () => string, timeoutMs = 20_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const line = output().split('\n').find((l) => l.includes('"midge listening"'));
    if (line) return (JSON.parse(line) as { http: { port: number } }).http.port;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no 'midge listening' line within ${timeoutMs} ms; output: ${output()}`);
}

function get(port: number, url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: url }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('optional modules load only when used', () => {
  it('a broker with default listeners loads no bridge client, JWT, YAML or HTTP framework; the first HTTP request loads fastify', async () => {
    const run = startRecorded(['--port', '0', '--ws-port', '0', '--http-port', '0', '--host', '127.0.0.1', '--log-format', 'json']);
    const port = await httpPort(run.output);
    const atStart = run.packages();
    // The recorder sees packages: the ones a broker needs are there
    expect(atStart.has('mqtt-packet')).toBe(true);
    expect(atStart.has('classic-level')).toBe(true);
    for (const name of OPTIONAL) expect(atStart.has(name), `${name} loaded at start`).toBe(false);

    const health = await get(port, '/healthz');
    expect(health).toEqual({ status: 200, body: 'ok\n' });
    expect(run.packages().has('fastify')).toBe(true);
    const metrics = await get(port, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('midge_connections 0');
  }, 60_000);
});
