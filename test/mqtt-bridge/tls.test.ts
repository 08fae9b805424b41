/** A bridge to a remote over TLS (mqtts:// and wss://), verified against the CA from certs/gen-dev-certs.sh, with a client certificate. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hasOpenssl, makeCerts, type TestCerts } from '../helpers/certs.js';
import { startBroker, until, type TestBroker } from '../helpers/broker.js';

let certs: TestCerts;
beforeAll(() => {
  if (hasOpenssl) certs = makeCerts();
});
afterAll(() => certs?.remove());
const opened: TestBroker[] = [];
afterEach(async () => {
  for (const b of opened.splice(0).reverse()) await b.close();
});

/** A remote that takes TLS clients only with a certificate signed by the dev CA. */
async function secureRemote(): Promise<TestBroker> {
  const remote = await startBroker({ tlsCert: certs.file('server.crt'), tlsKey: certs.file('server.key'), tlsCa: certs.file('ca.crt'), requireClientCert: true, tlsPort: 0, wssPort: 0 });
  opened.push(remote);
  return remote;
}

describe.skipIf(!hasOpenssl)('MQTT bridge over TLS', () => {
  it.each(['tls', 'wss'] as const)('forwards both ways over %s with mutual TLS', async (kind) => {
    const remote = await secureRemote();
    const addresses = remote.broker.addresses();
    const url = kind === 'tls' ? `mqtts://localhost:${addresses.tls?.port}` : `wss://localhost:${addresses.wss?.port}${addresses.wss?.path}`;
    const local = await startBroker({
      bridges: [
        {
          name: 'cloud',
          url,
          protocolVersion: 5,
          ca: certs.file('ca.crt'),
          cert: certs.file('client.crt'),
          key: certs.file('client.key'),
          reconnectDelay: 50,
          topics: [{ filter: 'x/#', direction: 'both', qos: 1 }],
        },
      ],
    });
    opened.push(local);
    await until(() => local.broker.mqttBridges.status()[0]?.state === 'connected', `connected over ${kind}`);
    const atRemote = await remote.client();
    const got: string[] = [];
    atRemote.on('message', (t) => got.push(t));
    await atRemote.subscribeAsync('x/#', { qos: 1 });
    const pub = await local.client();
    await pub.publishAsync('x/secure', 'hi', { qos: 1 });
    await until(() => got.length === 1, 'the message at the remote');
    expect(got).toEqual(['x/secure']);
  });

  it('does not connect to a remote whose certificate the configured CA did not sign, and says why', async () => {
    const remote = await secureRemote();
    const local = await startBroker({
      bridges: [{ name: 'cloud', url: `mqtts://localhost:${remote.broker.addresses().tls?.port}`, ca: certs.file('untrusted-client.crt'), reconnectDelay: 50, topics: [{ filter: 'x/#' }] }],
    });
    opened.push(local);
    await until(() => (local.broker.mqttBridges.status()[0]?.failures ?? 0) >= 1, 'a failed attempt');
    const status = local.broker.mqttBridges.status()[0];
    expect(status?.state).not.toBe('connected');
    expect(status?.reason).toMatch(/certificate|self.signed|verify/i);
  });
});
