import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { tokenDigest, type AdminRole, type CredentialStore, type Principal } from '../auth/admin-credentials.js';

/** What a route requires: nothing, any credential (read), or the admin role; `metrics` follows `metricsAuth`. */
export type AccessLevel = 'open' | 'read' | 'admin' | 'metrics';

/** A refused request: the HTTP status and a JSON body. */
export interface Denial {
  readonly status: 401 | 403 | 429;
  readonly error: string;
  readonly message: string;
}

/** Login sessions last this long (the dashboard logs in again after). */
const LOGIN_TTL_MS = 12 * 60 * 60 * 1000;
/** At most this many live login sessions; the oldest goes first. */
const MAX_LOGINS = 1000;
/** Failed authentications per address and minute before answers are 429. */
const MAX_FAILURES = 20;
const FAILURE_WINDOW_MS = 60_000;
/** Addresses whose failures are remembered at once. */
const MAX_FAILING_ADDRESSES = 10_000;
/** Password checks (scrypt: 16 MiB and tens of ms each) running at once; more are refused (429). */
const MAX_PASSWORD_CHECKS = 4;
/** A verified Basic header is trusted this long without a new scrypt check (until the credentials change). */
const BASIC_CACHE_MS = 60_000;
const MAX_BASIC_CACHE = 100;

const BUSY: Denial = { status: 429, error: 'too-many-requests', message: 'too many password checks at once: retry, or use a token' };

interface Login {
  readonly name: string;
  readonly role: AdminRole;
  readonly expiresAt: number;
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  return a === '::1' || (isIP(a) === 4 && a.startsWith('127.'));
}

/**
 * Who may do what on the HTTP listener. With no token or user configured, the API answers
 * loopback clients only, read-only and without credentials. With credentials, every protected
 * request needs one; any may read, only `admin` may act. Without an admin, the API stays
 * loopback-only and read-only. /healthz and /readyz are open; /metrics is open unless `metricsAuth`.
 */
export class Access {
  readonly #store: CredentialStore;
  readonly #metricsAuth: boolean;
  readonly #logins = new Map<string, Login>();
  readonly #failures = new Map<string, { count: number; since: number }>();
  /** Verified Basic credentials by the digest of their header, with the credentials' generation. */
  readonly #basic = new Map<string, { principal: Principal; until: number; generation: number }>();
  #checking = 0;

  constructor(store: CredentialStore, metricsAuth: boolean) {
    this.#store = store;
    this.#metricsAuth = metricsAuth;
  }

  /** True while no admin token or user exists (the API is read-only then). */
  get readOnly(): boolean {
    return !this.#store.hasAdmin;
  }

  /** Decides a request: its principal, or why it is refused. */
  async check(level: AccessLevel, authorization: string | undefined, address: string | undefined): Promise<Principal | Denial | undefined> {
    if (level === 'open' || (level === 'metrics' && !this.#metricsAuth)) return undefined;
    await this.#store.refresh();
    const now = Date.now();
    const limited = this.limited(address, now);
    if (limited) return limited;
    // No admin: the API answers loopback only. Protected metrics with no credential at all: the same
    if (!isLoopback(address) && (level === 'metrics' ? !this.#store.any : !this.#store.hasAdmin)) {
      return { status: 403, error: 'loopback-only', message: 'with no admin configured the API answers loopback clients only (midge admin add-token NAME --role admin)' };
    }
    const principal = authorization === undefined ? this.#anonymous() : await this.#authenticate(authorization, now);
    if (principal === 'busy') return BUSY;
    if (principal === undefined) {
      if (authorization !== undefined) this.#failed(address, now);
      return { status: 401, error: 'unauthorized', message: authorization === undefined ? 'credentials required (Authorization: Bearer TOKEN or Basic)' : 'bad credentials' };
    }
    if (level === 'admin' && principal.role !== 'admin') {
      const why = this.#store.hasAdmin ? `${principal.name} has the read role` : 'the API is read-only: no admin is configured (midge admin add-token NAME --role admin)';
      return { status: 403, error: 'forbidden', message: why };
    }
    return principal;
  }

  /** A 429 while `address` has failed to authenticate too often in the last minute. */
  limited(address: string | undefined, now = Date.now()): Denial | undefined {
    const failures = address === undefined ? undefined : this.#failures.get(address);
    if (failures && now - failures.since < FAILURE_WINDOW_MS && failures.count >= MAX_FAILURES) {
      return { status: 429, error: 'too-many-failures', message: 'too many failed authentications from this address: wait a minute' };
    }
    return undefined;
  }

  /** Exchanges a user's password for a login token (the dashboard's sign-in); undefined when refused, 'busy' when too many checks run. */
  async login(username: string, password: string, address: string | undefined): Promise<{ token: string; principal: Principal; expiresAt: number } | 'busy' | undefined> {
    await this.#store.refresh();
    const principal = await this.#password(username, password);
    const now = Date.now();
    if (principal === 'busy') return 'busy';
    if (!principal) {
      this.#failed(address, now);
      return undefined;
    }
    for (const [key, login] of this.#logins) if (login.expiresAt <= now) this.#logins.delete(key);
    if (this.#logins.size >= MAX_LOGINS) this.#logins.delete(this.#logins.keys().next().value as string);
    const token = `midgelogin_${randomBytes(32).toString('base64url')}`;
    const expiresAt = now + LOGIN_TTL_MS;
    this.#logins.set(tokenDigest(token), { name: principal.name, role: principal.role, expiresAt });
    return { token, principal: { ...principal, kind: 'login' }, expiresAt };
  }

  /** Ends a login session; false when `authorization` holds no live login token. */
  logout(authorization: string | undefined): boolean {
    const token = bearerOf(authorization);
    return token !== undefined && this.#logins.delete(tokenDigest(token));
  }

  #anonymous(): Principal | undefined {
    return this.#store.any ? undefined : { name: 'anonymous', role: 'read', kind: 'anonymous' };
  }

  async #authenticate(authorization: string, now: number): Promise<Principal | 'busy' | undefined> {
    const token = bearerOf(authorization);
    if (token !== undefined) {
      const login = this.#logins.get(tokenDigest(token));
      if (login && login.expiresAt > now) return { name: login.name, role: login.role, kind: 'login' };
      return this.#store.token(token);
    }
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(authorization);
    if (!basic) return undefined;
    const key = tokenDigest(authorization);
    const cached = this.#basic.get(key);
    if (cached && cached.until > now && cached.generation === this.#store.generation) return cached.principal;
    const decoded = Buffer.from(basic[1] as string, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return undefined;
    const generation = this.#store.generation;
    const principal = await this.#password(decoded.slice(0, colon), decoded.slice(colon + 1));
    if (principal === 'busy' || principal === undefined) return principal;
    this.#basic.delete(key);
    if (this.#basic.size >= MAX_BASIC_CACHE) this.#basic.delete(this.#basic.keys().next().value as string);
    this.#basic.set(key, { principal, until: now + BASIC_CACHE_MS, generation });
    return principal;
  }

  /** A user's password check, at most MAX_PASSWORD_CHECKS at once ('busy' beyond). */
  async #password(name: string, password: string): Promise<Principal | 'busy' | undefined> {
    if (this.#checking >= MAX_PASSWORD_CHECKS) return 'busy';
    this.#checking++;
    try {
      return await this.#store.user(name, password);
    } finally {
      this.#checking--;
    }
  }

  #failed(address: string | undefined, now: number): void {
    if (address === undefined) return;
    const entry = this.#failures.get(address);
    if (entry && now - entry.since < FAILURE_WINDOW_MS) {
      entry.count++;
      return;
    }
    if (this.#failures.size >= MAX_FAILING_ADDRESSES) this.#failures.delete(this.#failures.keys().next().value as string);
    this.#failures.set(address, { count: 1, since: now });
  }
}

function bearerOf(authorization: string | undefined): string | undefined {
  const m = authorization === undefined ? null : /^Bearer\s+(\S+)$/i.exec(authorization);
  return m ? (m[1] as string) : undefined;
}
