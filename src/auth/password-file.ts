import { createHash, pbkdf2, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
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

/** One user's hash: Midge's scrypt, or one of the two Mosquitto formats mosquitto_passwd writes. */
type Entry =
  | { readonly kind: 'scrypt'; readonly cost: { N: number; r: number; p: number }; readonly salt: Buffer; readonly hash: Buffer }
  /** Mosquitto `$6$salt$hash`: SHA-512 of the password then the salt (Mosquitto 1.6 and earlier). */
  | { readonly kind: 'sha512'; readonly salt: Buffer; readonly hash: Buffer }
  /** Mosquitto `$7$iterations$salt$hash`: PBKDF2-HMAC-SHA512 (Mosquitto 2.0's default). */
  | { readonly kind: 'pbkdf2'; readonly iterations: number; readonly salt: Buffer; readonly hash: Buffer };

const B64 = '[A-Za-z0-9+/=]+';
const SHA512_BYTES = 64;
/** Bounded, so a hand-edited file cannot make one CONNECT take minutes. */
const MAX_PBKDF2_ITERATIONS = 10_000_000;

function parseEntry(encoded: string): Entry | undefined {
  const scryptLine = new RegExp(`^scrypt\\$(\\d+)\\$(\\d+)\\$(\\d+)\\$(${B64})\\$(${B64})$`).exec(encoded);
  if (scryptLine) {
    const [N, r, p] = [Number(scryptLine[1]), Number(scryptLine[2]), Number(scryptLine[3])];
    // Bounded cost, so a hand-edited file cannot make one CONNECT take minutes or gigabytes
    if (N < 2 || N > 1 << 20 || (N & (N - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16) return undefined;
    const hash = Buffer.from(scryptLine[5] as string, 'base64');
    if (hash.length !== HASH_BYTES) return undefined;
    return { kind: 'scrypt', cost: { N, r, p }, salt: Buffer.from(scryptLine[4] as string, 'base64'), hash };
  }
  const shaLine = new RegExp(`^\\$6\\$(${B64})\\$(${B64})$`).exec(encoded);
  if (shaLine) {
    const hash = Buffer.from(shaLine[2] as string, 'base64');
    return hash.length === SHA512_BYTES ? { kind: 'sha512', salt: Buffer.from(shaLine[1] as string, 'base64'), hash } : undefined;
  }
  const pbkdf2Line = new RegExp(`^\\$7\\$(\\d+)\\$(${B64})\\$(${B64})$`).exec(encoded);
  if (pbkdf2Line) {
    const iterations = Number(pbkdf2Line[1]);
    const hash = Buffer.from(pbkdf2Line[3] as string, 'base64');
    if (iterations < 1 || iterations > MAX_PBKDF2_ITERATIONS || hash.length !== SHA512_BYTES) return undefined;
    return { kind: 'pbkdf2', iterations, salt: Buffer.from(pbkdf2Line[2] as string, 'base64'), hash };
  }
  return undefined;
}

/** The hash `entry` would hold for `password`. */
function digest(password: Buffer, entry: Entry): Promise<Buffer> {
  if (entry.kind === 'scrypt') return derive(password, entry.salt, entry.cost);
  if (entry.kind === 'sha512') return Promise.resolve(createHash('sha512').update(password).update(entry.salt).digest());
  const { salt, iterations } = entry;
  return new Promise((resolve, reject) => pbkdf2(password, salt, iterations, SHA512_BYTES, 'sha512', (err, key) => (err ? reject(err) : resolve(key))));
}

/** Parses a password file (`user:scrypt$...`, or Mosquitto's `user:$6$...` / `user:$7$...`, per line; # comments); throws ERR_SECURITY_FILE naming file and line. */
export function parsePasswordFile(text: string, file: string): Map<string, Entry> {
  const users = new Map<string, Entry>();
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    const entry = colon > 0 ? parseEntry(line.slice(colon + 1)) : undefined;
    if (!entry) {
      throw new BrokerError('ERR_SECURITY_FILE', `${file}:${index + 1}: expected user:scrypt$N$r$p$salt$hash (midge passwd) or a Mosquitto $6$/$7$ hash (mosquitto_passwd)`);
    }
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
  readonly #dummy: Entry = { kind: 'scrypt', cost: COST, salt: randomBytes(SALT_BYTES), hash: randomBytes(HASH_BYTES) };

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
    const checked = entry ?? this.#dummy;
    const actual = await digest(password, checked);
    return actual.length === checked.hash.length && timingSafeEqual(actual, checked.hash) && entry !== undefined;
  }
}
