import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../src/cli/args.js';
import { DEFAULTS } from '../../src/options.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const UNIT = path.join(ROOT, 'docs/midge.service');
const hasSystemdAnalyze = spawnSync('systemd-analyze', ['--version']).error === undefined;
if (!hasSystemdAnalyze) console.warn('systemd-analyze is not installed: the unit is checked by parsing only');

/** `Key=value` settings of the unit, by key (a key may repeat). */
function settings(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m) out.set(m[1] as string, [...(out.get(m[1] as string) ?? []), m[2] as string]);
  }
  return out;
}

describe('docs/midge.service (issue 18, defect 13)', () => {
  const text = readFileSync(UNIT, 'utf8');
  const unit = settings(text);
  const one = (key: string) => unit.get(key)?.[0];

  it('runs midge with flags midge accepts, reloads with SIGHUP and outwaits the graceful shutdown', () => {
    const [bin, ...args] = (one('ExecStart') ?? '').split(/\s+/);
    expect(bin).toMatch(/\/midge$/);
    const dir = mkdtempSync(path.join(tmpdir(), 'midge-unit-'));
    const config = path.join(dir, 'midge.yaml');
    writeFileSync(config, 'port: 1883\n');
    const command = parseCommandLine(args.map((a) => (a === '/etc/midge/midge.yaml' ? config : a)), {});
    expect(command).toMatchObject({ kind: 'run', options: { dataDir: '/var/lib/midge', port: 1883 } });
    expect(one('StateDirectory')).toBe('midge'); // /var/lib/midge
    expect(one('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(Number(one('TimeoutStopSec'))).toBeGreaterThan(DEFAULTS.shutdownTimeout / 1000);
    expect(one('User')).toBe('midge');
  });

  it('is hardened: no privileges, read-only system, only the network families it uses', () => {
    for (const [key, value] of [
      ['NoNewPrivileges', 'yes'],
      ['CapabilityBoundingSet', ''],
      ['ProtectSystem', 'strict'],
      ['ProtectHome', 'yes'],
      ['PrivateTmp', 'yes'],
      ['PrivateDevices', 'yes'],
      ['RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX'],
      ['SystemCallFilter', '@system-service'],
    ]) {
      expect(unit.get(key as string), key).toContain(value);
    }
  });

  it.skipIf(!hasSystemdAnalyze)('passes systemd-analyze verify, and its security exposure is low', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'midge-unit-'));
    const copy = path.join(dir, 'midge.service');
    // The binary exists only once installed: point the copy at one that exists
    writeFileSync(copy, text.replaceAll('/usr/local/bin/midge', process.execPath));
    const verify = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
    expect(verify.stderr.trim()).toBe('');
    const security = spawnSync('systemd-analyze', ['security', '--offline=yes', copy], { encoding: 'utf8' });
    const exposure = Number(/Overall exposure level for midge\.service: ([\d.]+)/.exec(security.stdout)?.[1]);
    expect(exposure, security.stdout.slice(-500)).toBeLessThanOrEqual(2);
  });
});
