import { once } from 'node:events';
import tls from 'node:tls';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, isBrokerError, type BrokerOptions, type ClientInfo, type Plugin } from '../../src/index.js';
import { collect, startBroker, type TestBroker } from '../helpers/broker.js';
import { hasOpenssl, makeCerts, type TestCerts } from '../helpers/certs.js';

let certs: TestCerts;
let t: TestBroker | undefined;
const clients: MqttClient[] = [];

beforeAll(() => {
  if (hasOpenssl) certs = makeCerts();
});
afterAll(() => certs?.remove());
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
  await t?.close();
  t = undefined;
});

function tlsOptions(extra: BrokerOptions = {}): BrokerOptions {
  return { tlsPort: 0, wssPort: 0, tlsCert: certs.file('server.crt'), tlsKey: certs.file('server.key'), ...extra };
}

/** Connects over TLS (or WSS) trusting the dev CA, optionally with a client certificate. */
async function connect(kind: 'tls' | 'wss', client: string | undefined, extra: IClientOptions = {}): Promise<MqttClient> {
  const a = t?.broker.addresses();
  const url = kind === 'tls' ? `mqtts://127.0.0.1:${a?.tls?.port}` : `wss://127.0.0.1:${a?.wss?.port}/mqtt`;
  const credentials = client ? { cert: certs.read(`${client}.crt`), key: certs.read(`${client}.key`) } : {};
  const c = await mqtt.connectAsync(url, { ca: certs.read('ca.crt'), reconnectPeriod: 0, connectTimeout: 5000, ...credentials, ...extra });
  clients.push(c);
  return c;
}

/** Sends a CONNECT over a raw TLS socket; reports the bytes answered and whether the server closed it. */
async function rawTls(client: string | undefined): Promise<{ bytes: number; closed: boolean }> {
  const credentials = client ? { cert: certs.read(`${client}.crt`), key: certs.read(`${client}.key`) } : {};
  const socket = tls.connect({ host: '127.0.0.1', port: t?.broker.addresses().tls?.port ?? 0, ca: certs.read('ca.crt'), servername: 'localhost', ...credentials });
  let bytes = 0;
  socket.on('data', (d: Buffer) => (bytes += d.length));
  socket.on('error', () => undefined);
  socket.once('secureConnect', () => socket.write(Buffer.from([0x10, 0x0c, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 0, 0, 0])));
  const closed = await Promise.race([new Promise<boolean>((r) => socket.once('close', () => r(true))), new Promise<boolean>((r) => setTimeout(() => r(false), 3000))]);
  socket.destroy();
  return { bytes, closed };
}

/** Records the ClientInfo of every authenticated client. */
function recorder(): Plugin & { seen: ClientInfo[] } {
  const seen: ClientInfo[] = [];
  return { seen, authenticate: (client) => (seen.push(client), true) };
}

describe.skipIf(!hasOpenssl)('TLS and WSS listeners', () => {
  it('serves MQTT over TLS and secure WebSocket, and they share the broker with plain TCP', async () => {
    t = await startBroker(tlsOptions());
    const overTls = await connect('tls', undefined);
    const overWss = await connect('wss', undefined);
    const plain = await t.client();
    const got = collect(plain);
    await plain.subscribeAsync('t/#');
    await overTls.publishAsync('t/tls', 'a', { qos: 1 });
    await overWss.publishAsync('t/wss', 'b', { qos: 1 });
    await got.waitFor(2);
    expect(got.messages.map((m) => m.topic).sort()).toEqual(['t/tls', 't/wss']);
  });

  it('refuses a client that does not trust the server certificate (handshake fails, nothing connects)', async () => {
    t = await startBroker(tlsOptions());
    const err = await mqtt
      .connectAsync(`mqtts://127.0.0.1:${t.broker.addresses().tls?.port}`, { reconnectPeriod: 0, connectTimeout: 3000 })
      .catch((e: unknown) => e);
    expect(String(err)).toMatch(/self.signed|unable to verify|certificate/i);
    expect(t.broker.clientCount).toBe(0);
  });

  it('without a certificate the TLS and WSS listeners stay off', async () => {
    t = await startBroker({ tlsPort: 0, wssPort: 0 });
    expect(t.broker.addresses().tls).toBeUndefined();
    expect(t.broker.addresses().wss).toBeUndefined();
  });
});

describe.skipIf(!hasOpenssl)('client certificates', () => {
  it('--require-client-cert: a client without a certificate, or with one from another CA, cannot connect', async () => {
    t = await startBroker(tlsOptions({ tlsCa: certs.file('ca.crt'), requireClientCert: true }));
    for (const client of [undefined, 'untrusted-client']) {
      // TLS 1.3 reports the refusal after the client's side of the handshake: no CONNACK ever comes
      expect(await rawTls(client)).toEqual({ bytes: 0, closed: true });
    }
    const ok = await connect('tls', 'client');
    expect(ok.connected).toBe(true);
  });

  it('the verified certificate reaches plugins (CN and SHA-256 fingerprint), over TLS and WSS', async () => {
    const rec = recorder();
    t = await startBroker(tlsOptions({ tlsCa: certs.file('ca.crt'), requireClientCert: true, plugins: [rec] }));
    await connect('tls', 'client-device-2', { username: 'u' });
    await connect('wss', 'client', { username: 'u' });
    expect(rec.seen.map((c) => [c.listener, c.certificate?.commonName, c.username])).toEqual([
      ['tls', 'device-2', 'u'],
      ['wss', 'device-1', 'u'],
    ]);
    expect(rec.seen[0]?.certificate?.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  it('with a CA but without --require-client-cert, certificates are optional and an untrusted one is ignored', async () => {
    const rec = recorder();
    t = await startBroker(tlsOptions({ tlsCa: certs.file('ca.crt'), plugins: [rec] }));
    await connect('tls', undefined);
    await connect('tls', 'untrusted-client');
    await connect('tls', 'client');
    expect(rec.seen.map((c) => c.certificate?.commonName)).toEqual([undefined, undefined, 'device-1']);
  });

  it('--cert-as-username: the CN is the username, for plugins and ACLs, whatever the CONNECT says', async () => {
    const rec = recorder();
    t = await startBroker(tlsOptions({ tlsCa: certs.file('ca.crt'), requireClientCert: true, certAsUsername: true, plugins: [rec] }));
    await connect('tls', 'client-device-2', { username: 'someone-else', password: 'x' });
    await connect('wss', 'client');
    expect(rec.seen.map((c) => c.username)).toEqual(['device-2', 'device-1']);
  });

  it('--cert-as-username with a password file: the certificate authenticates; without one a password is needed', async () => {
    const { hashPassword } = await import('../../src/auth/password-file.js');
    const { writeFileSync } = await import('node:fs');
    const file = certs.file('passwords');
    writeFileSync(file, `bob:${await hashPassword(Buffer.from('pw'))}\n`);
    const rec = recorder();
    t = await startBroker(tlsOptions({ tlsCa: certs.file('ca.crt'), certAsUsername: true, passwordFile: file, plugins: [rec] }));
    expect((await connect('tls', 'client-device-2')).connected).toBe(true);
    const refused = await connect('tls', undefined, { protocolVersion: 5 }).catch((e: { code?: number }) => e);
    expect((refused as { code?: number }).code).toBe(0x87); // no certificate and no user name: not authorized
    expect((await connect('tls', undefined, { username: 'bob', password: 'pw' })).connected).toBe(true);
    expect(rec.seen.map((c) => c.username)).toEqual(['device-2', 'bob']); // the refused one stopped at the password file
  });

  it('a plain TCP client has no certificate, and --cert-as-username leaves its username alone', async () => {
    const rec = recorder();
    t = await startBroker(tlsOptions({ tlsCa: certs.file('ca.crt'), certAsUsername: true, plugins: [rec] }));
    await t.client({ username: 'plain' });
    expect(rec.seen[0]).toMatchObject({ listener: 'tcp', username: 'plain', certificate: undefined });
  });
});

describe.skipIf(!hasOpenssl)('bad TLS configuration stops the start with a clear error', () => {
  async function startError(options: BrokerOptions): Promise<Error> {
    const broker = createBroker({ host: '127.0.0.1', port: 0, wsPort: -1, logLevel: 'silent', store: 'memory', ...options });
    const err = (await broker.listen().then(
      () => broker.close().then(() => new Error('started')),
      (e: unknown) => e,
    )) as Error;
    return err;
  }

  it('a missing certificate file names the file', async () => {
    const err = await startError(tlsOptions({ tlsCert: '/nonexistent/server.crt' }));
    expect(isBrokerError(err, 'ERR_TLS_CONFIG')).toBe(true);
    expect(err.message).toContain('cannot read certificate file /nonexistent/server.crt: ENOENT');
  });

  it('a key that does not belong to the certificate is reported as such', async () => {
    const err = await startError(tlsOptions({ tlsKey: certs.file('client.key') }));
    expect(isBrokerError(err, 'ERR_TLS_CONFIG')).toBe(true);
    expect(err.message).toMatch(/does not belong to the certificate/);
  });

  it('a file that is not PEM is refused', async () => {
    const err = await startError(tlsOptions({ tlsCert: certs.file('ca.key') }));
    expect(isBrokerError(err, 'ERR_TLS_CONFIG')).toBe(true);
  });

  it('options: key without certificate, or client certificates without a CA, are invalid', () => {
    expect(() => createBroker({ tlsKey: 'k.pem' })).toThrow(/tlsKey: expected tlsCert and tlsKey set together/);
    expect(() => createBroker({ tlsCert: 'c', tlsKey: 'k', requireClientCert: true })).toThrow(/tlsCa/);
  });

  it('the TLS port in use is ERR_LISTEN', async () => {
    const blocker = tls.createServer({ cert: certs.read('server.crt'), key: certs.read('server.key') });
    blocker.listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const port = (blocker.address() as { port: number }).port;
    try {
      const err = await startError(tlsOptions({ tlsPort: port, wssPort: -1 }));
      expect(isBrokerError(err, 'ERR_LISTEN')).toBe(true);
      expect(err.message).toContain(`TLS 127.0.0.1:${port}: address already in use`);
    } finally {
      blocker.close();
    }
  });
});
