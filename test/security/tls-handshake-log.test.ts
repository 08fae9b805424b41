import tls from 'node:tls';
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HandshakeLog, handshakeFailure } from '../../src/transport/handshake-log.js';
import { startBroker, until, type TestBroker } from '../helpers/broker.js';
import { hasOpenssl, makeCerts, type TestCerts } from '../helpers/certs.js';

/** A pino logger whose entries are collected, parsed. */
function recorded(): { logger: pino.Logger; entries: Record<string, unknown>[] } {
  const out = new PassThrough();
  const entries: Record<string, unknown>[] = [];
  out.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line.trim()) entries.push(JSON.parse(line) as Record<string, unknown>);
  });
  return { logger: pino({ level: 'info' }, out), entries };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('failed TLS handshakes are logged once per address per minute', () => {
  it('the first failure of an address is logged, the rest of that minute counted into its next line', async () => {
    const { logger, entries } = recorded();
    let now = 1_000_000;
    const log = new HandshakeLog(logger, () => now);
    const noCert = Object.assign(new Error('peer did not return a certificate'), { code: 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE' });
    log.failed('tls', '10.0.0.1', noCert);
    log.failed('tls', '10.0.0.1', noCert);
    log.failed('tls', '10.0.0.2', noCert);
    now += 59_000;
    log.failed('tls', '10.0.0.1', noCert);
    now += 2_000;
    log.failed('tls', '10.0.0.1', noCert);
    await flush();
    expect(entries.map((e) => [e.address, e.msg, e.moreInLastMinute])).toEqual([
      ['10.0.0.1', 'TLS handshake failed: no client certificate', undefined],
      ['10.0.0.2', 'TLS handshake failed: no client certificate', undefined],
      ['10.0.0.1', 'TLS handshake failed: no client certificate', 2],
    ]);
    expect(entries.every((e) => e.level === 40 && e.listener === 'tls')).toBe(true);
  });

  it('names the usual causes', () => {
    const err = (code: string, message = '') => Object.assign(new Error(message), { code });
    expect(handshakeFailure(err('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'))).toBe('client certificate not signed by the trusted CA (tlsCa)');
    expect(handshakeFailure(err('ERR_SSL_WRONG_VERSION_NUMBER'))).toBe('not TLS (a plain MQTT or HTTP client on the TLS port?)');
    expect(handshakeFailure(err('ECONNRESET'))).toBe('connection closed during the handshake');
  });

  it('keeps a bounded number of addresses under a flood', async () => {
    const { logger, entries } = recorded();
    const log = new HandshakeLog(logger, () => 0);
    for (let i = 0; i < 25_000; i++) log.failed('tls', `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, Object.assign(new Error('x'), { code: 'ECONNRESET' }));
    await flush();
    expect(entries).toHaveLength(25_000);
    log.failed('tls', '10.0.0.0', Object.assign(new Error('x'), { code: 'ECONNRESET' })); // forgotten under the flood: logged again
    await flush();
    expect(entries).toHaveLength(25_001);
  });
});

describe.skipIf(!hasOpenssl)('on a real mTLS listener', () => {
  let certs: TestCerts;
  let t: TestBroker | undefined;
  beforeAll(() => {
    certs = makeCerts();
  });
  afterAll(() => certs?.remove());
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  async function handshake(port: number, client: string | undefined): Promise<void> {
    const credentials = client ? { cert: certs.read(`${client}.crt`), key: certs.read(`${client}.key`) } : {};
    const socket = tls.connect({ host: '127.0.0.1', port, ca: certs.read('ca.crt'), servername: 'localhost', ...credentials });
    socket.on('error', () => undefined);
    await new Promise((r) => socket.once('close', r));
  }

  it('three clients without a certificate: one line for 127.0.0.1 this minute, with the cause', async () => {
    const { logger, entries } = recorded();
    t = await startBroker({ logger, tlsPort: 0, wssPort: -1, tlsCert: certs.file('server.crt'), tlsKey: certs.file('server.key'), tlsCa: certs.file('ca.crt'), requireClientCert: true });
    const port = t.broker.addresses().tls?.port ?? 0;
    for (let i = 0; i < 3; i++) await handshake(port, undefined);
    await until(() => entries.some((e) => String(e.msg).startsWith('TLS handshake failed')), 'the handshake log line');
    await new Promise((r) => setTimeout(r, 100));
    const lines = entries.filter((e) => String(e.msg).startsWith('TLS handshake failed'));
    expect(lines, JSON.stringify(lines)).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 40, listener: 'tls', address: '127.0.0.1', msg: 'TLS handshake failed: no client certificate' });
  });

  it('a client certificate from an untrusted CA is named as such', async () => {
    const { logger, entries } = recorded();
    t = await startBroker({ logger, tlsPort: 0, wssPort: -1, tlsCert: certs.file('server.crt'), tlsKey: certs.file('server.key'), tlsCa: certs.file('ca.crt'), requireClientCert: true });
    await handshake(t.broker.addresses().tls?.port ?? 0, 'untrusted-client');
    await until(() => entries.some((e) => String(e.msg).startsWith('TLS handshake failed')), 'the handshake log line');
    expect(entries.find((e) => String(e.msg).startsWith('TLS handshake failed'))).toMatchObject({ address: '127.0.0.1', msg: 'TLS handshake failed: client certificate not signed by the trusted CA (tlsCa)' });
  });
});
