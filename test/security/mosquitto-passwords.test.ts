import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorWithReasonCode } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parsePasswordFile } from '../../src/auth/password-file.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { runCommand } from '../helpers/run.js';

const MAIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
const hasMosquittoPasswd = spawnSync('mosquitto_passwd', ['-h']).error === undefined;
if (!hasMosquittoPasswd) console.warn('mosquitto_passwd is not installed: the tests against files it writes are skipped (the fixtures below still run)');

/** Written by mosquitto_passwd 2.0.11: `-c -b FILE alice secret1` ($7$, its default) and `-H sha512 -b FILE bob secret2` ($6$). */
const FIXTURE = [
  'alice:$7$101$QFd6QgFigopDUqUn$3ZEfCMgdwraZ2aVN8GYzoMx/VJjIZjMMvQft3KtDF20boi4ksA25C/zjQIY90sZkbE/a52S1DCBR842xuakCRQ==',
  'bob:$6$2y0B9T+A+t31KiYM$jwAIc3Xoixkc29DehYEiEtmrl9LTkNnLl2xDYW8QVGBI1g/49jXtD2tV5ZTnBtz/tzH3ZSUSje5kkVq6xG1BSQ==',
].join('\n');

let dir: string;
let t: TestBroker | undefined;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'midge-mosq-pw-'));
});
afterEach(async () => {
  await t?.close();
  t = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const run = runCommand;

const passwd = (args: string[], input = '') => run(process.execPath, [MAIN, 'passwd', ...args], input);

async function code(t: TestBroker, username: string, password: string, protocolVersion: 4 | 5 = 5): Promise<number | 'ok'> {
  try {
    await t.client({ username, password, protocolVersion });
    return 'ok';
  } catch (err) {
    return (err as ErrorWithReasonCode).code;
  }
}

describe('Mosquitto password files', () => {
  it('$7$ (PBKDF2-SHA512) and $6$ (SHA-512) lines as mosquitto_passwd writes them authenticate, next to scrypt lines', async () => {
    const file = path.join(dir, 'passwords');
    writeFileSync(file, `${FIXTURE}\n`);
    expect((await passwd(['-b', file, 'carol', 'secret3'])).code).toBe(0);
    expect([...parsePasswordFile(readFileSync(file, 'utf8'), file).keys()]).toEqual(['alice', 'bob', 'carol']);
    t = await startBroker({ passwordFile: file });
    expect(await code(t, 'alice', 'secret1')).toBe('ok');
    expect(await code(t, 'bob', 'secret2', 4)).toBe('ok');
    expect(await code(t, 'carol', 'secret3')).toBe('ok');
    expect(await code(t, 'alice', 'secret2')).toBe(0x86);
    expect(await code(t, 'bob', 'secret1', 4)).toBe(4);
  });

  it('refuses a malformed Mosquitto hash with FILE:LINE', () => {
    expect(() => parsePasswordFile('alice:$7$0$c2FsdA==$aGFzaA==\n', 'f')).toThrow(/^invalid security file: f:1: /);
    expect(() => parsePasswordFile('bob:$6$c2FsdA==$dG9vIHNob3J0\n', 'f')).toThrow(/f:1: expected user:scrypt/);
  });

  it.skipIf(!hasMosquittoPasswd)('a file made now by the installed mosquitto_passwd, both hash kinds, with a user midge passwd updates', async () => {
    const file = path.join(dir, 'mosquitto.passwd');
    expect((await run('mosquitto_passwd', ['-c', '-b', file, 'dora', 'pbkdf2-pw'])).code).toBe(0);
    expect((await run('mosquitto_passwd', ['-H', 'sha512', '-b', file, 'eve', 'sha-pw'])).code).toBe(0);
    expect((await run('mosquitto_passwd', ['-b', file, 'finn', 'old-pw'])).code).toBe(0);
    const written = readFileSync(file, 'utf8');
    expect(written).toMatch(/^dora:\$7\$/m);
    expect(written).toMatch(/^eve:\$6\$/m);
    expect((await passwd([file, 'finn', '--stdin'], 'new-pw\n')).stdout).toBe(`updated finn in ${file}\n`);
    t = await startBroker({ passwordFile: file });
    expect(await code(t, 'dora', 'pbkdf2-pw')).toBe('ok');
    expect(await code(t, 'eve', 'sha-pw')).toBe('ok');
    expect(await code(t, 'finn', 'new-pw')).toBe('ok');
    expect(await code(t, 'finn', 'old-pw')).toBe(0x86);
    expect(await code(t, 'eve', 'pbkdf2-pw')).toBe(0x86);
  });
});

describe('midge passwd -c and -b, as mosquitto_passwd', () => {
  it('-c creates the file, replacing one of that name; -b takes the password as the last argument', async () => {
    const file = path.join(dir, 'pw');
    writeFileSync(file, `${FIXTURE}\n`);
    expect(await passwd(['-c', '-b', file, 'gus', 'pw1'])).toMatchObject({ code: 0, stdout: `created gus in ${file}\n` });
    expect([...parsePasswordFile(readFileSync(file, 'utf8'), file).keys()]).toEqual(['gus']);
    expect(await passwd(['-b', file, 'hal', 'pw2'])).toMatchObject({ code: 0, stdout: `added hal in ${file}\n` });
    expect(await passwd(['-c', file, 'ivy', '--stdin'], 'pw3\n')).toMatchObject({ code: 0, stdout: `created ivy in ${file}\n` });
    expect([...parsePasswordFile(readFileSync(file, 'utf8'), file).keys()]).toEqual(['ivy']);
    t = await startBroker({ passwordFile: file });
    expect(await code(t, 'ivy', 'pw3')).toBe('ok');
  });

  it('usage errors exit 2: -b without a password, -D with -c, -b with --stdin', async () => {
    const file = path.join(dir, 'pw');
    for (const args of [['-b', file, 'x'], ['-D', '-c', file, 'x'], ['-b', '--stdin', file, 'x', 'y']]) {
      const r = await passwd(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^midge: /);
    }
  });
});
