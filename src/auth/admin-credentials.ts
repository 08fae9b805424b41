import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { BrokerError } from '../errors.js';

/** The file, in the data directory, that holds the HTTP listener's API tokens and users (hashed). */
export const ADMIN_CREDENTIALS_FILE = 'admin-credentials.json';

/** What a token or user may do: `read` reads; `admin` also kicks, deletes, publishes and reloads. */
export type AdminRole = 'admin' | 'read';

/** An API token as stored: its SHA-256, never the token. */
export interface TokenRecord {
  readonly name: string;
  readonly role: AdminRole;
  /** Hex SHA-256 of the token (a token is 32 random bytes, so a fast hash is enough). */
  readonly sha256: string;
  readonly created: string;
}

/** A user of the HTTP listener as stored: an scrypt hash of the password. */
export interface UserRecord {
  readonly name: string;
  readonly role: AdminRole;
  /** `scrypt$N$r$p$salt$hash`, the format of Midge's password files. */
  readonly password: string;
  readonly created: string;
}

/** The whole file. */
export interface AdminCredentials {
  readonly version: 1;
  readonly tokens: TokenRecord[];
  readonly users: UserRecord[];
}

/** Who a request was authenticated as. */
export interface Principal {
  readonly name: string;
  readonly role: AdminRole;
  readonly kind: 'token' | 'user' | 'login' | 'anonymous';
}

const COST = { N: 16_384, r: 8, p: 1 } as const;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const TOKEN_PREFIX = 'midge_';

/** Where the credentials of the broker whose data directory is `dataDir` live. */
export function credentialsPath(dataDir: string): string {
  return path.join(path.resolve(dataDir), ADMIN_CREDENTIALS_FILE);
}

/** True when `name` is acceptable for a token or a user (letters, digits, `._@-`, at most 64). */
export function isValidName(name: string): boolean {
  return NAME.test(name);
}

/** A new random API token (`midge_` and 43 base64url characters). */
export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** The stored form of a token. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function derive(password: string, salt: Buffer, cost: { N: number; r: number; p: number }): Promise<Buffer> {
  const options: ScryptOptions = { ...cost, maxmem: 128 * cost.N * cost.r * cost.p + 1024 * 1024 };
  return new Promise((resolve, reject) => scrypt(password, salt, 32, options, (err, key) => (err ? reject(err) : resolve(key))));
}

/** Hashes a user's password (scrypt, random salt). */
export async function hashAdminPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await derive(password, salt, COST);
  return `scrypt$${COST.N}$${COST.r}$${COST.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Checks a password against its stored hash in constant time; false for a malformed hash. */
export async function verifyAdminPassword(encoded: string, password: string): Promise<boolean> {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(encoded);
  if (!m) return false;
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (N < 2 || N > 1 << 20 || (N & (N - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16) return false;
  const expected = Buffer.from(m[5] as string, 'base64');
  const actual = await derive(password, Buffer.from(m[4] as string, 'base64'), { N, r, p });
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** An empty set of credentials. */
export function emptyCredentials(): AdminCredentials {
  return { version: 1, tokens: [], users: [] };
}

/** Checks the parsed file; throws ERR_SECURITY_FILE naming the file and what is wrong. */
export function parseCredentials(text: string, file: string): AdminCredentials {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new BrokerError('ERR_SECURITY_FILE', `${file}: not JSON: ${(err as Error).message}`);
  }
  const bad = (what: string): never => {
    throw new BrokerError('ERR_SECURITY_FILE', `${file}: ${what} (manage it with midge admin)`);
  };
  if (typeof data !== 'object' || data === null) return bad('expected an object');
  const { version, tokens, users } = data as Record<string, unknown>;
  if (version !== 1) bad(`unsupported version ${JSON.stringify(version)}`);
  if (!Array.isArray(tokens) || !Array.isArray(users)) return bad('expected "tokens" and "users" arrays');
  const role = (r: unknown) => r === 'admin' || r === 'read';
  for (const [i, t] of tokens.entries()) {
    const ok = typeof t === 'object' && t && isValidName(String(t.name)) && role(t.role) && /^[0-9a-f]{64}$/.test(String(t.sha256));
    if (!ok) bad(`tokens[${i}] is malformed`);
  }
  for (const [i, u] of users.entries()) {
    const ok = typeof u === 'object' && u && isValidName(String(u.name)) && role(u.role) && String(u.password).startsWith('scrypt$');
    if (!ok) bad(`users[${i}] is malformed`);
  }
  return { version: 1, tokens: tokens as TokenRecord[], users: users as UserRecord[] };
}

/** Reads the credentials file; a missing file is an empty set. Throws ERR_SECURITY_FILE. */
export function readCredentials(file: string): AdminCredentials {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyCredentials();
    throw new BrokerError('ERR_SECURITY_FILE', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseCredentials(text, file);
}

/** Writes the credentials file through a temporary file and a rename, readable by its owner only. */
export function writeCredentials(file: string, credentials: AdminCredentials): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

/**
 * The credentials the HTTP listener checks requests against. The file is read again when it
 * changed (checked at most once a second), so `midge admin` takes effect on a running broker
 * without a restart. A file that became unreadable or malformed keeps the last good credentials
 * (and `onError` is told).
 */
export class CredentialStore {
  readonly file: string;
  #credentials: AdminCredentials;
  #tokens = new Map<string, TokenRecord>();
  #signature = '';
  #checkedAt = 0;
  #generation = 0;
  readonly #onError: (err: unknown) => void;

  constructor(file: string, onError: (err: unknown) => void) {
    this.file = file;
    this.#onError = onError;
    this.#credentials = emptyCredentials();
    this.#install(readCredentials(file));
  }

  #install(credentials: AdminCredentials): void {
    this.#generation++;
    this.#credentials = credentials;
    this.#tokens = new Map(credentials.tokens.map((t) => [t.sha256, t]));
  }

  /** Rereads the file if it changed since the last look (at most one stat a second). */
  async refresh(now = Date.now()): Promise<void> {
    if (now - this.#checkedAt < 1000) return;
    this.#checkedAt = now;
    let signature: string;
    try {
      const s = await stat(this.file);
      signature = `${s.ino}:${s.size}:${s.mtimeMs}`;
    } catch (err) {
      signature = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'absent' : `error:${String(err)}`;
    }
    if (signature === this.#signature) return;
    this.#signature = signature;
    try {
      this.#install(readCredentials(this.file));
    } catch (err) {
      this.#onError(err);
    }
  }

  /** Rereads the file now; throws ERR_SECURITY_FILE and keeps the current credentials on an error. */
  reload(): void {
    this.#install(readCredentials(this.file));
  }

  /** Moves on each time the credentials are (re)installed: what was verified before may no longer hold. */
  get generation(): number {
    return this.#generation;
  }

  /** True when any token or user exists (then every API request must authenticate). */
  get any(): boolean {
    return this.#credentials.tokens.length > 0 || this.#credentials.users.length > 0;
  }

  /** True when some token or user has the admin role. */
  get hasAdmin(): boolean {
    return this.#credentials.tokens.some((t) => t.role === 'admin') || this.#credentials.users.some((u) => u.role === 'admin');
  }

  /** The token's principal, or undefined. */
  token(token: string): Principal | undefined {
    const record = this.#tokens.get(tokenDigest(token));
    return record && { name: record.name, role: record.role, kind: 'token' };
  }

  /** The user's principal when the password is right, else undefined (unknown users take as long). */
  async user(name: string, password: string): Promise<Principal | undefined> {
    const record = this.#credentials.users.find((u) => u.name === name);
    const ok = await verifyAdminPassword(record?.password ?? DUMMY_HASH, password);
    return ok && record ? { name: record.name, role: record.role, kind: 'user' } : undefined;
  }
}

/** Compared against for unknown users, so that their answer takes as long as a wrong password. */
const DUMMY_HASH = `scrypt$${COST.N}$${COST.r}$${COST.p}$${randomBytes(16).toString('base64')}$${randomBytes(32).toString('base64')}`;
