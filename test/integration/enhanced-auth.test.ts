import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type mqtt from 'mqtt';
import type { MqttClient } from 'mqtt';
import type { IAuthPacket } from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClientInfo, Plugin } from '../../src/index.js';
import { formatScramLine, scramCredential, scramSha256, SCRAM_SHA_256 } from '../../src/auth/scram.js';
import { connackOf, startBroker, type TestBroker } from '../helpers/broker.js';
import { Wire } from '../helpers/wire.js';
import { ScramClient } from '../helpers/scram-client.js';

let tb: TestBroker | undefined;
const raws: Wire[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.close();
  await tb?.close();
  tb = undefined;
});

function usersFile(users: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'midge-scram-'));
  const file = join(dir, 'scram-users');
  writeFileSync(file, `# test users\n${Object.entries(users).map(([u, p]) => formatScramLine(u, scramCredential(p))).join('\n')}\n`);
  return file;
}

/** Connects an mqtt.js v5 client that authenticates with SCRAM-SHA-256. */
function scramConnect(t: TestBroker, user: string, password: string, extra: mqtt.IClientOptions = {}): { client: MqttClient; scram: ScramClient; done: Promise<void> } {
  const scram = new ScramClient(user, password);
  const client = t.open({ protocolVersion: 5, clientId: `scram-${user}`, ...extra, properties: { authenticationMethod: SCRAM_SHA_256, authenticationData: scram.first() } });
  client.handleAuth = (packet: IAuthPacket, callback) => {
    const data = packet.properties?.authenticationData as Buffer;
    callback(undefined, { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: SCRAM_SHA_256, authenticationData: scram.final(data) } });
  };
  const done = new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return { client, scram, done };
}

async function rawScram(t: TestBroker, user: string, password: string): Promise<{ raw: Wire; connack: Packet }> {
  const raw = await Wire.open(t.port, 5);
  raws.push(raw);
  const scram = new ScramClient(user, password);
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: `raw-${user}`, clean: true, keepalive: 0, properties: { authenticationMethod: SCRAM_SHA_256, authenticationData: scram.first() } } as Packet);
  const challenge = (await raw.next('auth')) as Packet & { properties: { authenticationData: Buffer } };
  raw.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: SCRAM_SHA_256, authenticationData: scram.final(challenge.properties.authenticationData) } } as Packet);
  return { raw, connack: await raw.next('connack') };
}

describe('SCRAM-SHA-256 (built in, users from a file)', () => {
  it('[MQTT-4.12.0-2] [MQTT-4.12.0-5] authenticates over CONNECT, AUTH 0x18 and CONNACK, and proves the server knows the user', async () => {
    const connected: ClientInfo[] = [];
    tb = await startBroker({ scramUsersFile: usersFile({ alice: 'wonderland' }), plugins: [{ onConnected: (c) => void connected.push(c) }] });
    const { client, scram, done } = scramConnect(tb, 'alice', 'wonderland');
    await done;
    const connack = connackOf(client);
    expect(connack.reasonCode).toBe(0);
    expect(connack.properties?.authenticationMethod).toBe(SCRAM_SHA_256);
    expect(scram.verify(connack.properties?.authenticationData as Buffer)).toBe(true);
    expect(connected[0]?.username).toBe('alice'); // the SCRAM identity becomes the user name
    // the connection works
    await client.subscribeAsync('t/scram', { qos: 1 });
    const got = new Promise<string>((r) => client.once('message', (_t, p) => r(p.toString())));
    await client.publishAsync('t/scram', 'ok', { qos: 1 });
    expect(await got).toBe('ok');
  });

  it('[MQTT-4.12.0-4] a wrong password is refused with CONNACK 0x87 after the exchange', async () => {
    tb = await startBroker({ scramUsersFile: usersFile({ alice: 'wonderland' }) });
    const { done } = scramConnect(tb, 'alice', 'looking-glass');
    await expect(done).rejects.toMatchObject({ code: 0x87 });
  });

  it('an unknown user gets a challenge like any other and is then refused (no user enumeration)', async () => {
    tb = await startBroker({ scramUsersFile: usersFile({ alice: 'wonderland' }) });
    const { raw, connack } = await rawScram(tb, 'mallory', 'x');
    expect(connack).toMatchObject({ cmd: 'connack', reasonCode: 0x87 });
    await raw.waitClosed();
  });

  it('[MQTT-4.12.0-1] an Authentication Method no plugin supports gets CONNACK 0x8C', async () => {
    tb = await startBroker({ scramUsersFile: usersFile({ alice: 'wonderland' }) });
    const raw = await Wire.open(tb.port, 5);
    raws.push(raw);
    const connack = await raw.handshake({ properties: { authenticationMethod: 'SCRAM-SHA-1', authenticationData: Buffer.from('n,,n=a,r=x') } });
    expect(connack).toMatchObject({ reasonCode: 0x8c });
    await raw.waitClosed();
  });

  it('plain clients still connect beside SCRAM clients', async () => {
    tb = await startBroker({ scramUsersFile: usersFile({ alice: 'wonderland' }) });
    const c = await tb.client({ protocolVersion: 5 });
    expect(connackOf(c).reasonCode).toBe(0);
    expect(connackOf(c).properties?.authenticationMethod).toBeUndefined(); // [MQTT-4.12.0-6]
  });

  it('[MQTT-4.12.1-1] re-authentication: AUTH 0x19, AUTH 0x18, AUTH 0x00 with the server signature', async () => {
    tb = await startBroker({ scramUsersFile: usersFile({ alice: 'wonderland' }) });
    const { raw, connack } = await rawScram(tb, 'alice', 'wonderland');
    expect(connack).toMatchObject({ reasonCode: 0 });
    const again = new ScramClient('alice', 'wonderland');
    raw.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: SCRAM_SHA_256, authenticationData: again.first() } } as Packet);
    const challenge = (await raw.next('auth')) as Packet & { reasonCode: number; properties: { authenticationData: Buffer } };
    expect(challenge.reasonCode).toBe(0x18);
    raw.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: SCRAM_SHA_256, authenticationData: again.final(challenge.properties.authenticationData) } } as Packet);
    const success = (await raw.next('auth')) as Packet & { reasonCode: number; properties: { authenticationMethod: string; authenticationData: Buffer } };
    expect(success.reasonCode).toBe(0);
    expect(success.properties.authenticationMethod).toBe(SCRAM_SHA_256);
    expect(again.verify(success.properties.authenticationData)).toBe(true);
    // still connected
    raw.send({ cmd: 'pingreq' });
    await raw.next('pingresp');
  });

  it('[MQTT-4.12.1-2] a failed re-authentication ends with DISCONNECT 0x87', async () => {
    tb = await startBroker({ scramUsersFile: usersFile({ alice: 'wonderland' }) });
    const { raw } = await rawScram(tb, 'alice', 'wonderland');
    const wrong = new ScramClient('alice', 'nope');
    raw.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: SCRAM_SHA_256, authenticationData: wrong.first() } } as Packet);
    const challenge = (await raw.next('auth')) as Packet & { properties: { authenticationData: Buffer } };
    raw.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: SCRAM_SHA_256, authenticationData: wrong.final(challenge.properties.authenticationData) } } as Packet);
    expect(await raw.next('disconnect')).toMatchObject({ reasonCode: 0x87 });
    await raw.waitClosed();
  });

  it('reloadSecurity() (SIGHUP) rereads the users file: a new user can connect, a removed one cannot', async () => {
    const file = usersFile({ alice: 'wonderland' });
    tb = await startBroker({ scramUsersFile: file });
    writeFileSync(file, `${formatScramLine('bob', scramCredential('builder'))}\n`);
    tb.broker.reloadSecurity();
    await scramConnect(tb, 'bob', 'builder').done;
    await expect(scramConnect(tb, 'alice', 'wonderland').done).rejects.toMatchObject({ code: 0x87 });
  });

  it('a bad users file stops the start with the file name and line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'midge-scram-'));
    const file = join(dir, 'bad');
    writeFileSync(file, 'alice:plaintext\n');
    await expect(startBroker({ scramUsersFile: file })).rejects.toThrow(`${file}:1`);
  });
});

/** A two-step challenge/response plugin: the client must answer the challenge reversed. */
function reverseChallenge(): Plugin {
  return {
    authenticate(_client, credentials) {
      if (credentials.method !== 'REVERSE') return true;
      if (credentials.exchange.step === 0) {
        credentials.exchange.state = 'abc123';
        return { outcome: 'continue', data: Buffer.from('abc123') };
      }
      const ok = credentials.data?.toString() === [...String(credentials.exchange.state)].reverse().join('');
      return ok ? { outcome: 'success', data: Buffer.from('welcome'), username: 'reverser' } : { outcome: 'fail', reasonString: 'wrong answer' };
    },
  };
}

describe('the authenticate hook: challenge and response', () => {
  it('a plugin continues the exchange; plugins before it are not asked again', async () => {
    let plainCalls = 0;
    const plain: Plugin = { authenticate: () => (plainCalls++, true) };
    tb = await startBroker({ plugins: [plain, reverseChallenge()] });
    const raw = await Wire.open(tb.port, 5);
    raws.push(raw);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'rev', clean: true, keepalive: 0, properties: { authenticationMethod: 'REVERSE' } } as Packet);
    const challenge = (await raw.next('auth')) as Packet & { reasonCode: number; properties: { authenticationMethod: string; authenticationData: Buffer } };
    expect(challenge.reasonCode).toBe(0x18);
    expect(challenge.properties.authenticationMethod).toBe('REVERSE');
    raw.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'REVERSE', authenticationData: Buffer.from('321cba') } } as Packet);
    const connack = (await raw.next('connack')) as Packet & { reasonCode: number; properties: { authenticationData: Buffer } };
    expect(connack.reasonCode).toBe(0);
    expect(connack.properties.authenticationData.toString()).toBe('welcome');
    expect(plainCalls).toBe(1);
  });

  it('a wrong answer gets CONNACK 0x87 with the plugin reason string', async () => {
    tb = await startBroker({ plugins: [reverseChallenge()] });
    const client = tb.open({ protocolVersion: 5, properties: { authenticationMethod: 'REVERSE' } });
    client.handleAuth = (_p, cb) => cb(undefined, { cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'REVERSE', authenticationData: Buffer.from('nope') } });
    const connack = new Promise<Packet>((r) => client.on('packetreceive', (p) => p.cmd === 'connack' && r(p as Packet)));
    const err = await new Promise<Error & { code?: number }>((r) => client.once('error', r));
    expect(err.code).toBe(0x87);
    expect(await connack).toMatchObject({ reasonCode: 0x87, properties: { reasonString: 'wrong answer' } });
  });

  it('[MQTT-3.1.2-30] only AUTH or DISCONNECT may come before CONNACK during an exchange', async () => {
    tb = await startBroker({ plugins: [reverseChallenge()] });
    const raw = await Wire.open(tb.port, 5);
    raws.push(raw);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'rev2', clean: true, keepalive: 0, properties: { authenticationMethod: 'REVERSE' } } as Packet);
    await raw.next('auth');
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }] } as Packet);
    expect(await raw.next('connack')).toMatchObject({ reasonCode: 0x82 });
    await raw.waitClosed();
  });

  it('an exchange that is never finished is closed at the CONNECT deadline', async () => {
    tb = await startBroker({ plugins: [reverseChallenge()], connectTimeout: 300 });
    const raw = await Wire.open(tb.port, 5);
    raws.push(raw);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'rev3', clean: true, keepalive: 0, properties: { authenticationMethod: 'REVERSE' } } as Packet);
    await raw.next('auth');
    await raw.waitClosed(3000);
  });

  it.each([
    ['[MQTT-4.12.0-7] AUTH on a connection without an Authentication Method', undefined, { reasonCode: 0x19, properties: { authenticationMethod: 'REVERSE' } }],
    ['AUTH 0x18 with no exchange in progress', 'REVERSE', { reasonCode: 0x18, properties: { authenticationMethod: 'REVERSE' } }],
    ['[MQTT-4.12.1-1] AUTH with another method', 'REVERSE', { reasonCode: 0x19, properties: { authenticationMethod: 'OTHER' } }],
    ['[MQTT-3.15.2-1] AUTH 0x00 from a client', 'REVERSE', { reasonCode: 0x00, properties: { authenticationMethod: 'REVERSE' } }],
  ])('%s is a protocol error (DISCONNECT 0x82)', async (_name, method, auth) => {
    const accept: Plugin = { authenticate: (_c, cr) => (cr.method === 'REVERSE' ? { outcome: 'success' } : true) };
    tb = await startBroker({ plugins: [accept] });
    const raw = await Wire.open(tb.port, 5);
    raws.push(raw);
    expect(await raw.handshake(method ? { properties: { authenticationMethod: method } } : {})).toMatchObject({ reasonCode: 0 });
    raw.send({ cmd: 'auth', ...auth } as Packet);
    expect(await raw.next('disconnect')).toMatchObject({ reasonCode: 0x82 });
    await raw.waitClosed();
  });

  it('Authentication Data without an Authentication Method is a protocol error', async () => {
    tb = await startBroker();
    const raw = await Wire.open(tb.port, 5);
    raws.push(raw);
    expect(await raw.handshake({ properties: { authenticationData: Buffer.from('x') } })).toMatchObject({ reasonCode: 0x82 });
  });
});

describe('server redirection and authentication expiry', () => {
  const redirect = (reasonCode?: number): Plugin => ({ authenticate: () => ({ outcome: 'fail', serverReference: 'mqtt-2.example:1883', reasonCode }) });

  it('[MQTT-4.11] a plugin redirects with CONNACK 0x9C and a Server Reference', async () => {
    tb = await startBroker({ plugins: [redirect()] });
    const raw = await Wire.open(tb.port, 5);
    raws.push(raw);
    expect(await raw.handshake()).toMatchObject({ reasonCode: 0x9c, properties: { serverReference: 'mqtt-2.example:1883' } });
    await raw.waitClosed();
  });

  it('[MQTT-4.11] 0x9D Server moved, and 3.1.1 clients get return code 3', async () => {
    tb = await startBroker({ plugins: [redirect(0x9d)] });
    const v5 = await Wire.open(tb.port, 5);
    const v4 = await Wire.open(tb.port, 4);
    raws.push(v5, v4);
    expect(await v5.handshake()).toMatchObject({ reasonCode: 0x9d, properties: { serverReference: 'mqtt-2.example:1883' } });
    expect(await v4.handshake()).toMatchObject({ returnCode: 3 });
  });

  it('a client whose authentication expires is disconnected with 0xA0 (MQTT 5) or closed (3.1.1)', async () => {
    const expiring: Plugin = { authenticate: () => ({ outcome: 'success', expiresAt: Date.now() + 300 }) };
    tb = await startBroker({ plugins: [expiring] });
    const v5 = await Wire.open(tb.port, 5);
    const v4 = await Wire.open(tb.port, 4);
    raws.push(v5, v4);
    await v5.handshake();
    await v4.handshake();
    expect(await v5.next('disconnect', 3000)).toMatchObject({ reasonCode: 0xa0 });
    await v4.waitClosed(3000);
  });

  it('a re-authentication replaces the expiry', async () => {
    let step = 0;
    const plugin: Plugin = {
      authenticate: (_c, cr) => {
        if (cr.method !== 'TOKEN') return true;
        step++;
        return { outcome: 'success', expiresAt: Date.now() + (step === 1 ? 400 : 60_000) };
      },
    };
    tb = await startBroker({ plugins: [plugin] });
    const raw = await Wire.open(tb.port, 5);
    raws.push(raw);
    await raw.handshake({ properties: { authenticationMethod: 'TOKEN' } });
    raw.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'TOKEN' } } as Packet);
    expect(await raw.next('auth')).toMatchObject({ reasonCode: 0 });
    await new Promise((r) => setTimeout(r, 700));
    raw.send({ cmd: 'pingreq' });
    await raw.next('pingresp');
    expect(raw.isClosed).toBe(false);
  });
});

describe('the SCRAM plugin with users from another plugin', () => {
  it('takes a lookup function', async () => {
    const credential = scramCredential('s3cret', 4096);
    tb = await startBroker({ plugins: [scramSha256((u) => (u === 'bob' ? credential : undefined))] });
    const { done } = scramConnect(tb, 'bob', 's3cret');
    await done;
  });
});
