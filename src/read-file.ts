/** Reading a file the broker was pointed at (config, security, TLS files), with one error message for a file that cannot be read. */
import { readFileSync } from 'node:fs';
import { BrokerError, type ErrorCodeName } from './errors.js';

/**
 * Reads `file` whole (UTF-8 text, or bytes with `encoding` null). A file that cannot be read
 * throws BrokerError `code` with the message `cannot read <what> file <file>: <errno code>`.
 */
export function readFileOrThrow(file: string, what: string, code: ErrorCodeName): string;
export function readFileOrThrow(file: string, what: string, code: ErrorCodeName, encoding: null): Buffer;
export function readFileOrThrow(file: string, what: string, code: ErrorCodeName, encoding: 'utf8' | null = 'utf8'): string | Buffer {
  try {
    return encoding === null ? readFileSync(file) : readFileSync(file, encoding);
  } catch (err) {
    throw new BrokerError(code, `cannot read ${what} file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}
