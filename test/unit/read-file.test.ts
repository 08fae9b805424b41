import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isBrokerError } from '../../src/errors.js';
import { readFileOrThrow } from '../../src/read-file.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempFile(content: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'midge-read-file-'));
  dirs.push(dir);
  const file = path.join(dir, 'f.txt');
  writeFileSync(file, content);
  return file;
}

describe('readFileOrThrow', () => {
  it('reads a file as UTF-8 text, or as bytes with encoding null', () => {
    const file = tempFile('héllo\n');
    expect(readFileOrThrow(file, 'ACL', 'ERR_SECURITY_FILE')).toBe('héllo\n');
    expect(readFileOrThrow(file, 'key', 'ERR_TLS_CONFIG', null)).toEqual(Buffer.from('héllo\n'));
  });

  it.each([
    ['ERR_SECURITY_FILE', 'password'],
    ['ERR_INVALID_OPTION', 'config'],
    ['ERR_TLS_CONFIG', 'certificate'],
  ] as const)('a missing file throws %s "cannot read %s file <path>: ENOENT"', (code, what) => {
    const file = path.join(tmpdir(), `midge-no-such-file-${process.pid}`);
    let err: unknown;
    try {
      readFileOrThrow(file, what, code);
    } catch (e) {
      err = e;
    }
    expect(isBrokerError(err, code)).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`: cannot read ${what} file ${file.replaceAll('/', '\\/')}: ENOENT$`));
  });

  it('a directory throws EISDIR', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'midge-read-file-'));
    dirs.push(dir);
    expect(() => readFileOrThrow(dir, 'SCRAM users', 'ERR_SECURITY_FILE')).toThrow(`cannot read SCRAM users file ${dir}: EISDIR`);
  });
});
