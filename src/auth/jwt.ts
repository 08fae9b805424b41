import { readFileSync } from 'node:fs';
import { verdictBeforeChecking } from './credentials.js';
import type { JSONWebKeySet, JWTPayload, JWTVerifyGetKey, JWTVerifyOptions } from 'jose';
import { BrokerError } from '../errors.js';
import type { ClientInfo, Message } from '../model.js';
import type { AuthVerdict, Credentials, Plugin, SubscriptionRequestInfo } from '../hooks.js';
import { parseFilter } from '../protocol/topic.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { intersects, matches, substitute } from './patterns.js';

const PENDING_LIMIT = 10_000;

/** Options of the JWT plugin: exactly one of `secret` and `jwksFile`. */
export interface JwtOptions {
  readonly secret: string;
  readonly jwksFile: string;
  readonly usernameClaim: string;
  readonly topicsClaim: string;
  readonly issuer: string;
  readonly audience: string;
  readonly allowAnonymous: boolean;
  /** A client whose verified certificate gave its username is authenticated by that certificate. */
  readonly certAsUsername: boolean;
  /** Credentials another plugin answers (e.g. a password that is not a JWT when a password file is configured too). */
  readonly skip?: (credentials: Credentials) => boolean;
}

/** Topic patterns a token allows; undefined lists mean the token does not restrict that direction. */
interface Allowed {
  readonly publish: readonly string[];
  readonly subscribe: readonly string[];
}

/** True when a password has the shape of a compact JWS (three base64url parts). */
export function looksLikeJwt(password: Buffer | undefined): boolean {
  return password !== undefined && password.length < 16_384 && /^[\w-]+\.[\w-]+\.[\w-]+$/.test(password.toString('latin1'));
}

/**
 * JWT authentication: the token comes as the password and is verified against a shared secret or a
 * JWKS file. The username comes from a claim; `exp` becomes the authentication's expiry (the client
 * is disconnected then). A topics claim restricts that client's publishes, subscriptions and deliveries;
 * the lists are kept per client id from CONNACK to disconnection.
 */
export class JwtPlugin implements Plugin {
  readonly name = 'jwt';
  readonly #options: JwtOptions;
  #key: Uint8Array | JSONWebKeySet;
  /** The JWKS key resolver, built on the first token checked against `#key`. */
  #keySet: { readonly jwks: JSONWebKeySet; readonly resolve: JWTVerifyGetKey } | undefined;
  /** Allowed topics of clients whose CONNECT is being accepted, then of connected clients. */
  readonly #pending = new Map<string, Allowed>();
  readonly #active = new Map<string, Allowed>();

  constructor(options: JwtOptions) {
    this.#options = options;
    this.#key = this.#loadKey();
  }

  #loadKey(): Uint8Array | JSONWebKeySet {
    if (this.#options.secret !== '') return new TextEncoder().encode(this.#options.secret);
    const file = this.#options.jwksFile;
    let jwks: JSONWebKeySet;
    try {
      jwks = JSON.parse(readFileSync(file, 'utf8')) as JSONWebKeySet;
      if (!Array.isArray(jwks.keys)) throw new Error('no "keys" array');
      if (!jwks.keys.every((k) => typeof k === 'object' && k !== null && !Array.isArray(k))) throw new Error('a key that is not an object');
      return jwks;
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new BrokerError('ERR_SECURITY_FILE', `cannot read JWKS file ${file}: ${why}`);
    }
  }

  /** Rereads the JWKS file (a secret does not change) and returns what installs it; throws ERR_SECURITY_FILE. */
  prepareReload(): () => void {
    const key = this.#loadKey();
    return () => {
      this.#key = key;
    };
  }

  async authenticate(client: ClientInfo, credentials: Credentials): Promise<AuthVerdict> {
    const early = verdictBeforeChecking(client, credentials, this.#options);
    if (early !== undefined) return early;
    const { password } = credentials;
    if (!looksLikeJwt(password)) return false;
    let payload: JWTPayload;
    try {
      payload = (await this.#verify((password as Buffer).toString('latin1'))).payload;
    } catch (err) {
      return { outcome: 'fail', reasonCode: ReasonCode.BadUserNameOrPassword, reasonString: `invalid token: ${(err as Error).message}`.slice(0, 100) };
    }
    const name = payload[this.#options.usernameClaim];
    if (typeof name !== 'string' || name === '') return { outcome: 'fail', reasonString: `token has no ${this.#options.usernameClaim} claim` };
    const allowed = allowedOf(payload[this.#options.topicsClaim]);
    if (allowed === null) return { outcome: 'fail', reasonString: `token claim ${this.#options.topicsClaim} is not a list of topic filters` };
    if (this.#pending.size >= PENDING_LIMIT) this.#pending.clear(); // CONNECTs that never completed
    if (allowed) this.#pending.set(client.id, allowed);
    else this.#pending.delete(client.id);
    return { outcome: 'success', username: name, ...(payload.exp !== undefined ? { expiresAt: payload.exp * 1000 } : {}) };
  }

  async #verify(token: string) {
    // jose is loaded on the first token: a broker without JWT authentication never pays for it
    const { createLocalJWKSet, jwtVerify } = await import('jose');
    const options: JWTVerifyOptions = {};
    if (this.#options.issuer !== '') options.issuer = this.#options.issuer;
    if (this.#options.audience !== '') options.audience = this.#options.audience;
    const key = this.#key;
    if (key instanceof Uint8Array) return jwtVerify(token, key, { ...options, algorithms: ['HS256', 'HS384', 'HS512'] });
    if (this.#keySet?.jwks !== key) this.#keySet = { jwks: key, resolve: createLocalJWKSet(key) };
    return jwtVerify(token, this.#keySet.resolve, options);
  }

  onConnected(client: ClientInfo): void {
    const allowed = this.#pending.get(client.id);
    this.#pending.delete(client.id);
    if (allowed) this.#active.set(client.id, allowed);
    else this.#active.delete(client.id);
  }

  onDisconnected(client: ClientInfo): void {
    this.#active.delete(client.id);
  }

  authorizePublish(client: ClientInfo, message: Message): boolean {
    const allowed = this.#active.get(client.id);
    return !allowed || anyMatch(allowed.publish, client, message.topic.split('/'), matches);
  }

  authorizeSubscribe(client: ClientInfo, sub: SubscriptionRequestInfo): boolean {
    const allowed = this.#active.get(client.id);
    const parsed = parseFilter(sub.filter);
    return !allowed || (parsed !== null && anyMatch(allowed.subscribe, client, parsed.filter.split('/'), intersects));
  }

  authorizeRead(client: ClientInfo, message: Message): boolean {
    const allowed = this.#active.get(client.id);
    return !allowed || anyMatch(allowed.subscribe, client, message.topic.split('/'), matches);
  }
}

function anyMatch(patterns: readonly string[], client: ClientInfo, levels: string[], test: typeof matches): boolean {
  for (const p of patterns) {
    const pattern = substitute(p, client.username, client.id);
    if (pattern !== undefined && test(pattern.split('/'), levels)) return true;
  }
  return false;
}

/** The topics claim: absent (undefined), an array for both directions, or { publish, subscribe }; null when malformed. */
function allowedOf(claim: unknown): Allowed | undefined | null {
  if (claim === undefined) return undefined;
  const list = (v: unknown): string[] | null =>
    v === undefined ? [] : Array.isArray(v) && v.length <= 1000 && v.every((f) => typeof f === 'string' && parseFilter(f.replaceAll('%u', 'u').replaceAll('%c', 'c')) !== null) ? (v as string[]) : null;
  if (Array.isArray(claim)) {
    const both = list(claim);
    return both && { publish: both, subscribe: both };
  }
  if (typeof claim !== 'object' || claim === null) return null;
  const { publish, subscribe } = claim as { publish?: unknown; subscribe?: unknown };
  const p = list(publish);
  const s = list(subscribe);
  return p && s && { publish: p, subscribe: s };
}
