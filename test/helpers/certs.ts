import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = fileURLToPath(new URL('../../certs/gen-dev-certs.sh', import.meta.url));

/** True when openssl is installed; the TLS tests are skipped (with a note) without it. */
export const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    console.warn('openssl is not installed: the TLS tests are skipped');
    return false;
  }
})();

/** Fresh development certificates (from certs/gen-dev-certs.sh) in a temporary directory. */
export interface TestCerts {
  readonly dir: string;
  /** Absolute path of a generated file, e.g. 'server.crt'. */
  file(name: string): string;
  /** Contents of a generated file. */
  read(name: string): Buffer;
  remove(): void;
}

/** Runs the certificate script into a new temporary directory (client CNs device-1 and device-2). */
export function makeCerts(): TestCerts {
  const dir = mkdtempSync(path.join(tmpdir(), 'midge-certs-'));
  execFileSync('bash', [SCRIPT, dir], { env: { ...process.env, MIDGE_CLIENT_CN: 'device-1 device-2' }, stdio: 'ignore', timeout: 30_000 });
  return {
    dir,
    file: (name) => path.join(dir, name),
    read: (name) => readFileSync(path.join(dir, name)),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
