import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import type { ErrorWithReasonCode } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBroker, type ClientInfo, type Plugin } from '../../src/index.js';
import { ackCode, closed, collect, nextDisconnect, sleep, startBroker, subackCodes, type TestBroker } from '../helpers/broker.js';

const SECRET = 'a-shared-secret-of-sufficient-length-for-hs256';
let dir: string;
let t: TestBroker | undefined;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'midge-jwt-'));
});
afterEach(async () => {
  await t?.close();
  t = undefined;
  rmSync(dir, { recursive: true, force: true });
});

function hs256(claims: JWTPayload, expiresIn: string | number = '1h', secret = SECRET): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(expiresIn).sign(new TextEncoder().encode(secret));
}

async function refusal(connect: Promise<unknown>): Promise<number | undefined> {
  const err = (await connect.then(
    () => undefined,
    (e: unknown) => e,
  )) as ErrorWithReasonCode | undefined;
  return err?.code;
}

function usernames(): Plugin & { seen: string[] } {
  const seen: string[] = [];
  return { seen, onConnected: (c: ClientInfo) => void seen.push(c.username ?? '') };
}

describe('JWT with a shared secret', () => {
  it('a valid token in the password field connects; the username comes from the sub claim', async () => {
    const rec = usernames();
    t = await startBroker({ jwtSecret: SECRET, plugins: [rec] });
    const c = await t.client({ protocolVersion: 5, username: 'ignored', password: await hs256({ sub: 'device-7' }) });
    expect(c.connected).toBe(true);
    expect(rec.seen).toEqual(['device-7']);
  });

  it('a wrong signature, an expired token and a non-token are refused (0x86); no credentials at all, as not authorized (0x87)', async () => {
    t = await startBroker({ jwtSecret: SECRET });
    const bad = [await hs256({ sub: 'x' }, '1h', 'another-secret-another-secret-another'), await hs256({ sub: 'x' }, Math.floor(Date.now() / 1000) - 10), 'plain-password'];
    for (const password of bad) expect(await refusal(t.client({ protocolVersion: 5, username: 'x', password }))).toBe(0x86);
    expect(await refusal(t.client({ protocolVersion: 5 }))).toBe(0x87);
    expect(await refusal(t.client({ protocolVersion: 4, username: 'x', password: 'nope' }))).toBe(4);
    expect(await refusal(t.client({ protocolVersion: 4 }))).toBe(5);
  });

  it('a token without the username claim, or with a malformed topics claim, is refused', async () => {
    t = await startBroker({ jwtSecret: SECRET, jwtUsernameClaim: 'device' });
    expect(await refusal(t.client({ protocolVersion: 5, username: 'x', password: await hs256({ sub: 'a' }) }))).toBe(0x86);
    expect(await refusal(t.client({ protocolVersion: 5, username: 'x', password: await hs256({ device: 'a', topics: 'a/#' }) }))).toBe(0x86);
    expect((await t.client({ protocolVersion: 5, username: 'x', password: await hs256({ device: 'a' }) })).connected).toBe(true);
  });

  it('issuer and audience are checked when configured', async () => {
    t = await startBroker({ jwtSecret: SECRET, jwtIssuer: 'https://issuer.example', jwtAudience: 'midge' });
    expect(await refusal(t.client({ protocolVersion: 5, username: 'x', password: await hs256({ sub: 'a', iss: 'other', aud: 'midge' }) }))).toBe(0x86);
    const ok = await t.client({ protocolVersion: 5, username: 'x', password: await hs256({ sub: 'a', iss: 'https://issuer.example', aud: 'midge' }) });
    expect(ok.connected).toBe(true);
  });

  it('the topics claim limits that client: publish 0x87, subscribe 0x87, and deliveries of a wide filter', async () => {
    t = await startBroker({ jwtSecret: SECRET });
    const token = await hs256({ sub: 'd1', topics: { publish: ['devices/%u/out'], subscribe: ['devices/%u/in/#', 'broadcast/#'] } });
    const d = await t.client({ protocolVersion: 5, clientId: 'd1-client', username: 'd1', password: token });
    const got = collect(d);
    expect(await subackCodes(d, { 'devices/d1/in/#': { qos: 1 }, 'devices/d2/in/#': { qos: 1 }, '#': { qos: 1 } })).toEqual([1, 0x87, 1]);
    expect(await ackCode(d, 'devices/d1/out', 'ok', 1)).toBe(0); // matches d's own '#' (not delivered: not readable)
    expect(await ackCode(d, 'devices/d2/out', 'no', 1)).toBe(0x87);
    for (const topic of ['devices/d1/in/cmd', 'devices/d2/in/cmd', 'broadcast/all', 'other']) await t.broker.publish({ topic, payload: topic, qos: 1 });
    await got.waitFor(2);
    await sleep(100);
    // one delivery per message even with two matching subscriptions, and only the readable topics
    expect(got.messages.map((m) => m.topic).sort()).toEqual(['broadcast/all', 'devices/d1/in/cmd']);
    // a token without a topics claim does not restrict its client
    const free = await t.client({ protocolVersion: 5, clientId: 'free', username: 'x', password: await hs256({ sub: 'free' }) });
    expect(await ackCode(free, 'devices/d2/out', 'x', 1)).toBe(0); // accepted (d's '#' matches it)
  });

  it('reconnecting with a wider token replaces the restriction (takeover keeps the new one)', async () => {
    t = await startBroker({ jwtSecret: SECRET });
    const narrow = await hs256({ sub: 'd', topics: ['a/#'] });
    const wide = await hs256({ sub: 'd', topics: ['a/#', 'b/#'] });
    const first = await t.client({ protocolVersion: 5, clientId: 'same', username: 'd', password: narrow });
    expect(await ackCode(first, 'b/1', 'x', 1)).toBe(0x87);
    const second = await t.client({ protocolVersion: 5, clientId: 'same', username: 'd', password: wide });
    expect(await ackCode(second, 'b/1', 'x', 1)).toBe(0x10);
  });
});

describe('JWT expiry during the session', () => {
  it('5.0: the client is disconnected with 0xA0 (Maximum connect time) when its token expires', async () => {
    t = await startBroker({ jwtSecret: SECRET });
    const exp = Math.floor(Date.now() / 1000) + 2;
    const c = await t.client({ protocolVersion: 5, clientId: 'expiring', username: 'x', password: await hs256({ sub: 'e' }, exp) });
    expect(c.connected).toBe(true);
    const disconnect = await nextDisconnect(c, 5000);
    expect(disconnect.reasonCode).toBe(0xa0);
    expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000 - 50);
    await closed(c);
  });

  it('3.1.1: the connection is closed when the token expires; a fresh token connects again', async () => {
    t = await startBroker({ jwtSecret: SECRET });
    const exp = Math.floor(Date.now() / 1000) + 2;
    const c = await t.client({ protocolVersion: 4, clientId: 'expiring4', username: 'x', password: await hs256({ sub: 'e' }, exp) });
    await closed(c, 5000);
    expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000 - 50);
    const again = await t.client({ protocolVersion: 4, clientId: 'expiring4', username: 'x', password: await hs256({ sub: 'e' }) });
    expect(again.connected).toBe(true);
  });
});

describe('JWT with a JWKS file', () => {
  it('verifies tokens signed by a key of the set, refuses others, and rereads the file on reload', async () => {
    const a = await generateKeyPair('ES256');
    const b = await generateKeyPair('ES256');
    const jwk = async (key: CryptoKey, kid: string) => ({ ...(await exportJWK(key)), kid, alg: 'ES256', use: 'sig' });
    const file = path.join(dir, 'jwks.json');
    writeFileSync(file, JSON.stringify({ keys: [await jwk(a.publicKey, 'a')] }));
    const sign = (key: CryptoKey, kid: string) => new SignJWT({ sub: `by-${kid}` }).setProtectedHeader({ alg: 'ES256', kid }).setExpirationTime('1h').sign(key);
    t = await startBroker({ jwtJwksFile: file });
    expect((await t.client({ protocolVersion: 5, username: 'x', password: await sign(a.privateKey, 'a') })).connected).toBe(true);
    expect(await refusal(t.client({ protocolVersion: 5, username: 'x', password: await sign(b.privateKey, 'b') }))).toBe(0x86);
    writeFileSync(file, JSON.stringify({ keys: [await jwk(a.publicKey, 'a'), await jwk(b.publicKey, 'b')] }));
    t.broker.reloadSecurity();
    expect((await t.client({ protocolVersion: 5, username: 'x', password: await sign(b.privateKey, 'b') })).connected).toBe(true);
  });

  it('a missing or malformed JWKS file stops the start', () => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, '{"nokeys": true}');
    expect(() => createBroker({ jwtJwksFile: file, store: 'memory' })).toThrow(`cannot read JWKS file ${file}: no "keys" array`);
    expect(() => createBroker({ jwtJwksFile: path.join(dir, 'none.json'), store: 'memory' })).toThrow(/ENOENT/);
    expect(() => createBroker({ jwtJwksFile: file, jwtSecret: 's' })).toThrow(/either jwtSecret or jwtJwksFile/);
  });
});

describe('JWT beside a password file', () => {
  it('a JWT-shaped password is verified as a token, anything else against the file', async () => {
    const { hashPassword } = await import('../../src/auth/password-file.js');
    const file = path.join(dir, 'passwords');
    writeFileSync(file, `alice:${await hashPassword(Buffer.from('secret'))}\n`);
    t = await startBroker({ jwtSecret: SECRET, passwordFile: file });
    expect((await t.client({ protocolVersion: 5, username: 'alice', password: 'secret' })).connected).toBe(true);
    expect((await t.client({ protocolVersion: 5, username: 'x', password: await hs256({ sub: 'tok' }) })).connected).toBe(true);
    expect(await refusal(t.client({ protocolVersion: 5, username: 'alice', password: 'wrong' }))).toBe(0x86);
    expect(await refusal(t.client({ protocolVersion: 5, username: 'alice', password: await hs256({ sub: 'a' }, '1h', 'wrong-secret-wrong-secret-wrong-secret') }))).toBe(0x86);
  });
});
