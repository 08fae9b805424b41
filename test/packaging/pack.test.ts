import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx';
const built = existsSync(path.join(ROOT, 'dist/src/cli/main.js'));
if (!built) console.warn('npm pack test skipped: dist/ is not built (npm test builds it first)');

describe.skipIf(!built)('npm pack', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'midge-pack-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('packs what the runtime needs, installs from the tarball and runs with npx midge', { timeout: 90_000 }, async () => {
    // dist/ is already built by `npm test`, so the prepack script need not run again
    const packed = await run(NPM, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, timeout: 30_000 });
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    const files = (info?.files ?? []).map((f) => f.path);
    for (const needed of ['dist/src/cli/main.js', 'dist/src/index.js', 'status/index.html', 'status/status.js', 'status/status.css', 'status/panels.js', 'midge.example.yaml', 'docs/configuration.md', 'docs/admin-api.yaml']) {
      expect(files, needed).toContain(needed);
    }
    expect(files.some((f) => f.startsWith('test/') || f.startsWith('src/'))).toBe(false);

    // A project of its own, so npm installs into app/node_modules rather than a parent's
    const app = path.join(dir, 'app');
    mkdirSync(app);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'midge-pack-test', version: '1.0.0', private: true }));
    const installed = await run(NPM, ['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(dir, info?.filename ?? '')], { cwd: app, timeout: 60_000 });
    // The package has no install-time script of its own (issue 18: npm warned about its prepare script)
    expect(installed.stderr).not.toMatch(/midge@[\d.]+ \(/);
    const version = await run(NPX, ['--no-install', 'midge', '--version'], { cwd: app, timeout: 15_000 });
    expect(version.stdout.trim()).toMatch(/^midge \d+\.\d+\.\d+$/);

    await startAndStop(app);
  });
});

/** Starts the installed midge, fetches the status page's MQTT.js bundle and /healthz, then stops it with SIGTERM. */
async function startAndStop(app: string): Promise<void> {
  const bin = path.join(app, 'node_modules/.bin/midge');
  const child = spawn(bin, ['--host', '127.0.0.1', '--port', '0', '--ws-port', '-1', '--http-port', '0', '--store', 'memory'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = Date.now() + 10_000;
    while (!out.includes('midge listening') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    const listening = out.split('\n').find((l) => l.includes('midge listening'));
    expect(listening, out).toBeDefined();
    const http = (JSON.parse(listening as string) as { http: { port: number } }).http.port;
    expect((await fetch(`http://127.0.0.1:${http}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${http}/mqtt.min.js`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${http}/uPlot.iife.min.js`)).status).toBe(200);
    expect(await (await fetch(`http://127.0.0.1:${http}/`)).text()).toContain('Midge');
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}
