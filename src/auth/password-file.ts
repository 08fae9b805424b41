import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { verdictBeforeChecking } from './credentials.js';
import { readFileOrThrow } from '../read-file.js';
import { BrokerError } from '../errors.js';
import type { ClientInfo } from '../model.js';
import type { AuthVerdict, Credentials, Plugin } from '../hooks.js';

/** scrypt cost: N=2^14, r=8, p=1 (16 MiB, tens of milliseconds), a 16-byte salt and a 32-byte hash. */
const COST = { N: 16_384, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const HASH_BYTES = 32;

function derive(password: Buffer, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...cost, maxmem: 128 * cost.N * cost.r * cost.p + 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(password, salt, HASH_BYTES, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** Hashes a password for the file: `scrypt$N$r$p$salt$hash` (salt and hash in base64). */
export async function hashPassword(password: Buffer): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, COST);
  return `scrypt$${COST.N}$${COST.r}$${COST.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

interface Entry {
  readonly cost: { N: number; r: number; p: number };
  readonly salt: Buffer;
  readonly hash: Buffer;
}

function parseEntry(encoded: string): Entry | undefined {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(encoded);
  if (!m) return undefined;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // Bounded cost, so a hand-edited file cannot make one CONNECT take minutes or gigabytes
  if (N < 2 || N > 1 << 20 || (N & (N - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
  const hash = Buffer.from(m[5] as string, 'base64');
  if (hash.length !== HASH_BYTES) return undefined;
  return { cost: { N, r, p }, salt: Buffer.from(m[4] as string, 'base64'), hash };
}

/** Parses a password file (`user:scrypt$...` per line, # comments); throws ERR_SECURITY_FILE naming file and line. */
export function parsePasswordFile(text: string, file: string): Map<string, Entry> {
  const users = new Map<string, Entry>();
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    const entry = colon > 0 ? parseEntry(line.slice(colon + 1)) : undefined;
    if (!entry) throw new BrokerError('ERR_SECURITY_FILE', `${file}:${index + 1}: expected user:scrypt$N$r$p$salt$hash (see midge passwd)`);
    users.set(line.slice(0, colon), entry);
  }
  return users;
}

/** Reads a password file; throws ERR_SECURITY_FILE. */
export function readPasswordFile(file: string): Map<string, Entry> {
  return parsePasswordFile(readFileOrThrow(file, 'password', 'ERR_SECURITY_FILE'), file);
}

/** Options of the password-file plugin. */
export interface PasswordFileOptions {
  readonly file: string;
  readonly allowAnonymous: boolean;
  /** A client whose verified certificate gave its username is authenticated by that certificate. */
  readonly certAsUsername: boolean;
  /** Credentials another plugin answers (e.g. a JWT when JWT is configured too). */
  readonly skip?: (credentials: Credentials) => boolean;
}

/** Checks CONNECT credentials against a password file (scrypt, per-user salt, constant-time compare). */
export class PasswordFilePlugin implements Plugin {
  readonly name = 'password-file';
  readonly #options: PasswordFileOptions;
  #users: Map<string, Entry>;
  /** Compared against for unknown users, so that their answer takes as long as a wrong password. */
  readonly #dummy: Entry = { cost: COST, salt: randomBytes(SALT_BYTES), hash: randomBytes(HASH_BYTES) };

  constructor(options: PasswordFileOptions) {
    this.#options = options;
    this.#users = readPasswordFile(options.file);
  }

  /** Rereads the file and returns what installs it; throws ERR_SECURITY_FILE (the current users stay). */
  prepareReload(): () => void {
    const users = readPasswordFile(this.#options.file);
    return () => {
      this.#users = users;
    };
  }

  /** Number of users loaded. */
  get size(): number {
    return this.#users.size;
  }

  async authenticate(client: ClientInfo, credentials: Credentials): Promise<AuthVerdict> {
    const early = verdictBeforeChecking(client, credentials, this.#options);
    if (early !== undefined) return early;
    const { username, password } = credentials;
    if (username === undefined || password === undefined) return false;
    const entry = this.#users.get(username);
    const actual = await derive(password, (entry ?? this.#dummy).salt, (entry ?? this.#dummy).cost);
    return timingSafeEqual(actual, (entry ?? this.#dummy).hash) && entry !== undefined;
  }
}
