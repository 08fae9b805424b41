import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorWithReasonCode } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBroker, isBrokerError } from '../../src/index.js';
import { hashPassword, parsePasswordFile } from '../../src/auth/password-file.js';
import { startBroker, type TestBroker } from '../helpers/broker.js';
import { runCommand, type CommandResult } from '../helpers/run.js';

const MAIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));
let dir: string;
let t: TestBroker | undefined;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'midge-passwd-'));
});
afterEach(async () => {
  await t?.close();
  t = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** Runs `midge passwd ...` with `input` on standard input. */
function passwd(args: string[], input = ''): Promise<CommandResult> {
  return runCommand(process.execPath, [MAIN, 'passwd', ...args], input);
}

async function refusal(connect: Promise<unknown>): Promise<number | undefined> {
  const err = (await connect.then(
    () => undefined,
    (e: unknown) => e,
  )) as ErrorWithReasonCode | undefined;
  return err?.code;
}

describe('midge passwd', () => {
  it('adds, updates and deletes users; hashes are scrypt with a per-user salt; the file is private', async () => {
    const file = path.join(dir, 'passwords');
    expect(await passwd([file, 'alice', '--stdin'], 'wonderland\n')).toMatchObject({ code: 0, stdout: `added alice in ${file}\n` });
    expect(await passwd([file, 'bob', '--stdin'], 'wonderland\n')).toMatchObject({ code: 0 });
    const text = readFileSync(file, 'utf8');
    const [alice, bob] = text.trim().split('\n');
    expect(alice).toMatch(/^alice:scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    // the same password gives different hashes: the salt is per user
    expect(alice?.split('$').slice(4)).not.toEqual(bob?.split('$').slice(4));
    expect(text).not.toContain('wonderland');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await passwd([file, 'alice', '--stdin'], 'looking-glass\n')).toMatchObject({ code: 0, stdout: `updated alice in ${file}\n` });
    expect(parsePasswordFile(readFileSync(file, 'utf8'), file).size).toBe(2);
    expect(await passwd(['-D', file, 'bob'])).toMatchObject({ code: 0, stdout: `deleted bob from ${file}\n` });
    expect(readFileSync(file, 'utf8')).not.toContain('bob:');
  });

  it('gives one-line errors: unknown user to delete, bad user name, empty password, no terminal, missing arguments', async () => {
    const file = path.join(dir, 'p');
    expect(await passwd(['-D', file, 'nobody'])).toMatchObject({ code: 2, stderr: `midge: no user nobody in ${file}\n` });
    expect((await passwd([file, 'a:b', '--stdin'], 'x\n')).stderr).toMatch(/cannot be empty or contain ":"/);
    expect((await passwd([file, 'carol', '--stdin'], '\n')).stderr).toBe('midge: empty password\n');
    expect((await passwd([file, 'carol'])).stderr).toMatch(/not a terminal: use --stdin/);
    expect((await passwd([file])).code).toBe(2);
  });
});

describe('password file authentication', () => {
  async function withUsers(users: Record<string, string>, extra: string[] = []): Promise<string> {
    const file = path.join(dir, 'passwords');
    const lines = ['# users', ...extra];
    for (const [user, password] of Object.entries(users)) lines.push(`${user}:${await hashPassword(Buffer.from(password))}`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    return file;
  }

  it('accepts the right password and refuses a wrong one or an unknown user (5.0: 0x86, 3.1.1: 4)', async () => {
    t = await startBroker({ passwordFile: await withUsers({ alice: 'secret' }) });
    const ok = await t.client({ username: 'alice', password: 'secret', protocolVersion: 5 });
    expect(ok.connected).toBe(true);
    expect(await refusal(t.client({ username: 'alice', password: 'wrong', protocolVersion: 5 }))).toBe(0x86);
    expect(await refusal(t.client({ username: 'mallory', password: 'secret', protocolVersion: 5 }))).toBe(0x86);
    expect(await refusal(t.client({ username: 'alice', password: 'wrong', protocolVersion: 4 }))).toBe(4);
    expect(await refusal(t.client({ username: 'alice', protocolVersion: 4 }))).toBe(4);
  });

  it('anonymous clients are refused as not authorized (5.0: 0x87, 3.1.1: 5) once a password file is set, unless allowAnonymous', async () => {
    const file = await withUsers({ alice: 'secret' });
    t = await startBroker({ passwordFile: file });
    expect(await refusal(t.client({ protocolVersion: 5 }))).toBe(0x87);
    expect(await refusal(t.client({ protocolVersion: 4 }))).toBe(5);
    await t.close();
    t = await startBroker({ passwordFile: file, allowAnonymous: true });
    expect((await t.client({ protocolVersion: 5 })).connected).toBe(true);
    // a wrong password is still wrong
    expect(await refusal(t.client({ username: 'alice', password: 'x', protocolVersion: 5 }))).toBe(0x86);
  });

  it('a bad line stops the start with the file name and line number; a missing file names the file', async () => {
    const file = await withUsers({ alice: 'secret' }, ['bob:plaintext']);
    const err = (() => {
      try {
        createBroker({ passwordFile: file, store: 'memory' });
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(isBrokerError(err, 'ERR_SECURITY_FILE')).toBe(true);
    expect(err?.message).toBe(`invalid security file: ${file}:2: expected user:scrypt$N$r$p$salt$hash (midge passwd) or a Mosquitto $6$/$7$ hash (mosquitto_passwd)`);
    expect(() => createBroker({ passwordFile: path.join(dir, 'none'), store: 'memory' })).toThrow(/cannot read password file .*none: ENOENT/);
  });

  it('reloadSecurity() picks up a changed file without dropping connections; a broken file keeps the old users', async () => {
    const file = await withUsers({ alice: 'secret' });
    t = await startBroker({ passwordFile: file });
    const alice = await t.client({ username: 'alice', password: 'secret' });
    await withUsers({ bob: 'builder' });
    t.broker.reloadSecurity();
    expect(alice.connected).toBe(true);
    expect(t.broker.clientCount).toBe(1);
    expect((await t.client({ username: 'bob', password: 'builder' })).connected).toBe(true);
    expect(await refusal(t.client({ username: 'alice', password: 'secret', protocolVersion: 5 }))).toBe(0x86);
    writeFileSync(file, 'garbage\n');
    expect(() => t?.broker.reloadSecurity()).toThrow(/passwords:1/);
    expect((await t.client({ username: 'bob', password: 'builder' })).connected).toBe(true);
  });
});
