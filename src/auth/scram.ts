import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileOrThrow } from '../read-file.js';
import { BrokerError } from '../errors.js';
import type { ClientInfo } from '../model.js';
import type { AuthVerdict, Credentials, Plugin } from '../hooks.js';

/** The Authentication Method name of SCRAM-SHA-256 (RFC 7677). */
export const SCRAM_SHA_256 = 'SCRAM-SHA-256';

/** What the server keeps for a SCRAM user: never the password itself (RFC 5802 section 3). */
export interface ScramCredential {
  readonly salt: Buffer;
  readonly iterations: number;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

/** Finds a user's SCRAM credential; undefined for an unknown user. */
export type ScramUserLookup = (username: string) => ScramCredential | undefined | Promise<ScramCredential | undefined>;

const MIN_ITERATIONS = 4096; // RFC 7677 section 4
const NONCE_BYTES = 18;

function hmac(key: Buffer, text: string | Buffer): Buffer {
  return createHmac('sha256', key).update(text).digest();
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

/** Derives the credential to store for a password (the password is taken as UTF-8, without SASLprep). */
export function scramCredential(password: string, iterations = MIN_ITERATIONS, salt = randomBytes(16)): ScramCredential {
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = hmac(salted, 'Client Key');
  return { salt, iterations, storedKey: sha256(clientKey), serverKey: hmac(salted, 'Server Key') };
}

/** One line of a SCRAM users file, in PostgreSQL's verifier format: `user:SCRAM-SHA-256$i:salt$StoredKey:ServerKey`. */
export function formatScramLine(username: string, credential: ScramCredential): string {
  const b64 = (b: Buffer) => b.toString('base64');
  return `${username}:${SCRAM_SHA_256}$${credential.iterations}:${b64(credential.salt)}$${b64(credential.storedKey)}:${b64(credential.serverKey)}`;
}

const LINE = /^([^:]+):SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/;

/** Parses a SCRAM users file (blank lines and `#` comments allowed); a bad line is an error naming file and line. */
export function parseScramFile(text: string, file: string): Map<string, ScramCredential> {
  const users = new Map<string, ScramCredential>();
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    const [, user, iter, salt, stored, server] = m ?? [];
    if (!user || !iter || !salt || !stored || !server || Number(iter) < 1) {
      throw new BrokerError('ERR_SECURITY_FILE', `${file}:${i + 1}: expected user:SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey`);
    }
    const credential = {
      iterations: Number(iter),
      salt: Buffer.from(salt, 'base64'),
      storedKey: Buffer.from(stored, 'base64'),
      serverKey: Buffer.from(server, 'base64'),
    };
    if (credential.storedKey.length !== 32 || credential.serverKey.length !== 32) {
      throw new BrokerError('ERR_SECURITY_FILE', `${file}:${i + 1}: StoredKey and ServerKey must be 32 bytes (SHA-256)`);
    }
    users.set(user, credential);
  }
  return users;
}

/**
 * Reads a SCRAM users file into a lookup. `prepareReload()` reads it again and returns the commit
 * that switches to the new users (so a reload of several files can be all or nothing).
 */
export function scramUsersFile(file: string): ScramUserLookup & { prepareReload(): () => void } {
  const read = () => parseScramFile(readFileOrThrow(file, 'SCRAM users', 'ERR_SECURITY_FILE'), file);
  let users = read();
  const lookup = (username: string) => users.get(username);
  return Object.assign(lookup, {
    prepareReload: () => {
      const next = read();
      return () => void (users = next);
    },
  });
}

/** Per-exchange state between the server-first and the client-final message. */
interface ScramState {
  readonly username: string;
  readonly gs2Header: string;
  readonly clientFirstBare: string;
  readonly serverFirst: string;
  readonly nonce: string;
  /** Undefined for an unknown user: the exchange runs to the end and fails, so users cannot be probed. */
  readonly credential: ScramCredential | undefined;
}

const failed = (reasonString: string): AuthVerdict => ({ outcome: 'fail', reasonString });

/** RFC 5802 saslname: ',' and '=' are escaped as =2C and =3D; any other '=' is malformed. */
function decodeSaslName(name: string): string | undefined {
  if (/=(?!2C|3D)/.test(name)) return undefined;
  return name.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

/** Splits `k=v,k=v` attributes; undefined when malformed. */
function attributes(text: string): Array<[string, string]> | undefined {
  const out: Array<[string, string]> = [];
  for (const part of text.split(',')) {
    if (!/^[A-Za-z]=/.test(part)) return undefined;
    out.push([part[0] as string, part.slice(2)]);
  }
  return out;
}

/**
 * SCRAM-SHA-256 (RFC 5802, RFC 7677) as MQTT 5 enhanced authentication: CONNECT carries the
 * client-first message, AUTH 0x18 the server-first, AUTH 0x18 the client-final, and CONNACK (or
 * AUTH 0x00 on re-authentication) the server signature. Channel binding is not offered.
 */
export function scramSha256(lookup: ScramUserLookup): Plugin {
  const secret = randomBytes(32);
  const decoy = (username: string): ScramCredential => ({
    salt: hmac(secret, username).subarray(0, 16),
    iterations: MIN_ITERATIONS,
    storedKey: randomBytes(32),
    serverKey: randomBytes(32),
  });

  async function clientFirst(client: ClientInfo, credentials: Credentials): Promise<AuthVerdict> {
    const message = credentials.data?.toString('utf8') ?? '';
    const m = /^([ny]|p=[^,]*),(a=[^,]*)?,(.*)$/.exec(message);
    if (!m) return failed('malformed SCRAM client-first message');
    const [, cbind = '', authzid = '', bare = ''] = m;
    if (cbind.startsWith('p=')) return failed('SCRAM channel binding is not supported');
    const attrs = attributes(bare);
    if (!attrs || attrs[0]?.[0] !== 'n' || attrs[1]?.[0] !== 'r' || attrs.some(([k]) => k === 'm')) {
      return failed('malformed SCRAM client-first message');
    }
    const username = decodeSaslName(attrs[0][1]);
    const clientNonce = attrs[1][1];
    if (!username || clientNonce === '' || /[^\x21-\x2b\x2d-\x7e]/.test(clientNonce)) return failed('malformed SCRAM client-first message');
    if (authzid !== '' && decodeSaslName(authzid.slice(2)) !== username) return failed('SCRAM authorization identity not supported');
    // The MQTT user name, when given, must name the same user
    if (client.username !== undefined && client.username !== '' && client.username !== username) return failed('user name differs from the SCRAM identity');
    const credential = await lookup(username);
    const used = credential ?? decoy(username);
    const nonce = clientNonce + randomBytes(NONCE_BYTES).toString('base64');
    const serverFirst = `r=${nonce},s=${used.salt.toString('base64')},i=${used.iterations}`;
    const state: ScramState = { username, gs2Header: `${cbind},${authzid},`, clientFirstBare: bare, serverFirst, nonce, credential };
    credentials.exchange.state = state;
    return { outcome: 'continue', data: Buffer.from(serverFirst, 'utf8') };
  }

  function clientFinal(credentials: Credentials): AuthVerdict {
    const state = credentials.exchange.state as ScramState | undefined;
    if (!state) return failed('SCRAM exchange out of order');
    const message = credentials.data?.toString('utf8') ?? '';
    const at = message.lastIndexOf(',p=');
    const attrs = at < 0 ? undefined : attributes(message.slice(0, at));
    if (!attrs || attrs[0]?.[0] !== 'c' || attrs[1]?.[0] !== 'r') return failed('malformed SCRAM client-final message');
    if (Buffer.from(attrs[0][1], 'base64').toString('utf8') !== state.gs2Header) return failed('SCRAM channel binding mismatch');
    if (attrs[1][1] !== state.nonce) return failed('SCRAM nonce mismatch');
    const proof = Buffer.from(message.slice(at + 3), 'base64');
    const authMessage = `${state.clientFirstBare},${state.serverFirst},${message.slice(0, at)}`;
    const credential = state.credential;
    if (!credential || proof.length !== 32) return failed('SCRAM authentication failed');
    const signature = hmac(credential.storedKey, authMessage);
    const clientKey = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) clientKey[i] = (proof[i] as number) ^ (signature[i] as number);
    if (!timingSafeEqual(sha256(clientKey), credential.storedKey)) return failed('SCRAM authentication failed');
    const serverSignature = hmac(credential.serverKey, authMessage).toString('base64');
    return { outcome: 'success', username: state.username, data: Buffer.from(`v=${serverSignature}`, 'utf8') };
  }

  return {
    name: 'scram-sha-256',
    authenticate(client, credentials) {
      if (credentials.method !== SCRAM_SHA_256) return true; // another method, or plain credentials
      if (credentials.exchange.step === 0) return clientFirst(client, credentials);
      if (credentials.exchange.step === 1) return clientFinal(credentials);
      return failed('SCRAM exchange has too many steps');
    },
  };
}
